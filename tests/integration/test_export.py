"""``export FILE``: one private JSON file with everything kept about the user, read back and
checked against ``history --json``, the outbox and the consent decisions (real receivers,
real SQLite, the real command line)."""

from __future__ import annotations

import functools
import json
import os
import stat
import sys

import pytest

from app import cli
from app.backends.telemetrydeck import client_user
from app.core.wiring import build_companion
from app.receiver import TelemetryDeckReceiver
from app.receiver.faults import Respond
from app.storage.config import load_config
from tests.ui.conftest import LICENSE, fixed_identity, write_config

POSIX = sys.platform != "win32"


@pytest.fixture()
def setup(tmp_path, capsys):
    rx = TelemetryDeckReceiver()
    rx.__enter__()
    config = write_config(tmp_path / "companion.toml", "", rx.url)
    build = functools.partial(build_companion, license_key=lambda: LICENSE,
                              identity=fixed_identity, environ={})

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["--home", str(tmp_path / "home"), "--config", str(config), *args],
                        build=build)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run, rx, config
    rx.__exit__(None, None, None)


def test_the_export_holds_history_queue_consent_and_identifiers(setup, tmp_path):
    run, rx, config = setup
    assert run("consent", "grant")[0] == 0
    for i in range(3):
        assert run("track", "feature.export", "--value", str(i))[0] == 0
    assert run("send")[0] == 0  # delivered: in the history
    rx.script(Respond(503))
    for i in range(2):
        run("track", "feature.import", "--value", str(i))
    run("send")  # a 503: the two stay queued, the failed request is in the history too
    target = tmp_path / "out" / "my-data.json"
    target.parent.mkdir()
    code, said, _ = run("export", str(target))
    assert code == 0 and str(target) in said and "2 queued event(s)" in said
    if POSIX:
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    data = json.loads(target.read_text(encoding="utf-8"))

    assert data["history"] == json.loads(run("history", "--json")[1])
    assert [e["verdict"] for e in data["history"]] == ["retry", "delivered"]
    sent = data["history"][1]["request"]
    assert sent is not None and LICENSE not in json.dumps(data)
    queued = [(q["backend"], q["event"]["name"], q["event"]["value"]) for q in data["queued"]]
    assert queued == [("telemetrydeck", "feature.import", 0), ("telemetrydeck", "feature.import", 1)]
    status = json.loads(run("status", "--json")[1])
    assert status["backends"]["telemetrydeck"]["queued"] == len(data["queued"])

    ident = fixed_identity()
    salt = load_config(config).telemetrydeck.salt
    assert data["identifiers"]["user_identifier"] == ident.user_identifier
    assert data["identifiers"]["client_user"] == client_user(ident.user_identifier, salt)
    # the identifier actually sent is the one exported
    signal = json.loads(rx.requests[0].body)[0]
    assert signal["clientUser"] == data["identifiers"]["client_user"]
    assert data["product"]["id"] == load_config(config).product.id

    shown = {c["id"]: c for c in json.loads(run("consent", "show", "--json")[1])["categories"]}
    decisions = {d["category"]: d for d in data["consent"]["decisions"]}
    assert decisions.keys() == shown.keys()
    for cat, decision in decisions.items():
        assert decision["choice"] == shown[cat]["stored"] == "granted"
        assert decision["decided_at"] == shown[cat]["decided_at"] is not None
        assert decision["decided_at_iso"].endswith("Z")


def test_an_existing_file_is_kept_unless_forced(setup, tmp_path):
    run, _rx, _config = setup
    target = tmp_path / "mine.json"
    target.write_text("the user's own file\n")
    if POSIX:
        target.chmod(0o644)
    code, _out, err = run("export", str(target))
    assert code == 2 and "already exists" in err and "--force" in err
    assert target.read_text() == "the user's own file\n"
    code, _out, _err = run("export", str(target), "--force")
    assert code == 0 and json.loads(target.read_text())["format"] == 1
    if POSIX:
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mine")] == []


@pytest.mark.skipif(not POSIX, reason="a symbolic link needs privileges on Windows")
def test_a_link_in_the_files_place_is_not_followed(setup, tmp_path):
    run, _rx, _config = setup
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "export.json"
    os.symlink(victim, link)
    code, _out, err = run("export", str(link))
    assert code == 2 and "already exists" in err
    assert victim.read_text() == "keep me\n"


def test_an_unwritable_place_is_an_error_not_a_bug(setup, tmp_path):
    run, _rx, _config = setup
    code, _out, err = run("export", str(tmp_path / "no-such-folder" / "x.json"))
    assert code == 1 and "cannot write" in err and "internal error" not in err
