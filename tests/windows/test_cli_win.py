"""The real CLI process under the Windows CPython: ``--self-test``, ``status --json`` and
``doctor --json`` (which must answer even though Wine's network-status backend is absent)."""

from __future__ import annotations

import json

from tests.configs import telemetrydeck, vendor_config
from tests.windows.cli import cli_env, run_cli


def env_for(tmp_path, td_url: str) -> dict[str, str]:
    config = tmp_path / "companion.toml"
    config.write_text(vendor_config(telemetrydeck=telemetrydeck(td_url)), encoding="utf-8")
    return cli_env(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                   LICENSE_COMPANION_CONFIG=str(config))


def test_self_test_passes(tmp_path):
    proc = run_cli(cli_env(LICENSE_COMPANION_HOME=str(tmp_path / "home")), "--self-test")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_status_json(tmp_path, td):
    proc = run_cli(env_for(tmp_path, td.url), "status", "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["backends"]["telemetrydeck"]["enabled"] is True
    assert status["policy"]["source"] == ""  # no HKLM policy in this prefix


def test_doctor_json_answers_and_sends_nothing(tmp_path, td):
    env = env_for(tmp_path, td.url)
    assert run_cli(env, "track", "feature.export", "--value", "1").returncode == 0
    proc = run_cli(env, "doctor", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report and "readable by other users" not in proc.stdout + proc.stderr
    assert td.accepted_events() == []  # no consent, and doctor sends nothing anyway
