"""The README's documented examples, run as written: every event is accepted, categorised and
delivered.

The offline flow's configuration is taken from the README's here-document (pointed at a test
receiver on a free port instead of 8765), its ``track`` lines are run as the real
``python -m app`` process, and the events of the "From your application" examples (the
Python client and the socket line) must belong to a category of the shipped
``resources/companion.toml`` and arrive too.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from app.model.consent import category_for
from app.receiver import TelemetryDeckReceiver
from app.storage.config import load_config

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHIPPED = ROOT / "resources" / "companion.toml"


def heredoc_config() -> str:
    match = re.search(r"cat > /tmp/companion\.toml <<'TOML'\n(.*?)\nTOML\n", README, re.S)
    assert match, "the README's offline flow lost its configuration"
    return match.group(1)


def track_lines() -> list[list[str]]:
    lines = [line.split("#", 1)[0].strip() for line in README.splitlines()
             if line.startswith(".venv/bin/license-companion track ")]
    assert lines, "the README shows no track command"
    return [shlex.split(line)[1:] for line in lines]


def python_names() -> list[str]:
    return re.findall(r'c\.track\("([^"]+)"', README)


def socket_lines() -> list[str]:
    return re.findall(r"echo '(\{\"op\":\"track\".*?\})'", README)


def test_the_application_examples_name_a_shipped_category():
    categories = load_config(SHIPPED).consent.categories
    names = python_names() + [json.loads(line)["name"] for line in socket_lines()]
    assert len(names) >= 2
    for name in names:
        assert category_for(categories, name) is not None, name


def test_the_offline_flow_runs_as_written(tmp_path):
    with TelemetryDeckReceiver() as td:
        config = heredoc_config().replace("http://127.0.0.1:8765/v2/", td.url)
        assert td.url in config
        path = tmp_path / "companion.toml"
        path.write_text(config, encoding="utf-8")

        def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "app", "--home", str(tmp_path / "home"), "--config",
                 str(path), *args], input=stdin, text=True, capture_output=True, timeout=60,
                cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "PYTHONPATH": str(ROOT)})

        expected = []
        for args in track_lines():
            done = cli(*args)
            assert done.returncode == 0, (args, done.stderr)
            expected.append(args[1])
        for line in socket_lines():
            done = cli("track", "--jsonl", "-", stdin=line + "\n")
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            expected.append(json.loads(line)["name"])
        for name in python_names():
            assert cli("track", name, "--value", "1").returncode == 0
            expected.append(name)
        status = json.loads(cli("status", "--json").stdout)
        assert status["backends"]["telemetrydeck"]["queued"] == len(expected)
        assert status["waiting_consent"] == len(expected)  # each one in a category, held
        assert cli("consent", "grant").returncode == 0
        sent = cli("send")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sorted(e["type"] for e in td.accepted_events()) == sorted(expected)
        assert json.loads(cli("status", "--json").stdout)["backends"]["telemetrydeck"][
            "rejected_total"] == 0
