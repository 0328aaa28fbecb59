"""The command line's host pieces: host-info, track --jsonl, the inbox count in status, and
what Windows is told (the one part mocked: ``transport_problem``, as no Windows is here)."""

from __future__ import annotations

import io
import json
import sys

import pytest

import app.door.client as client_module
import app.door.endpoint as endpoint_module
from app import cli
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client, ClientError
from app.door.door import HostDoor
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(60)
WINDOWS = "no transport here (as on Windows)"


def fixed_identity() -> Identity:
    return Identity("u" * 32, "a" * 32, "test", "tester")


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck("http://127.0.0.1:9/"))
    home = tmp_path / "home"
    monkeypatch.setenv("LICENSE_COMPANION_HOST_SOCKET", str(tmp_path / "s" / "host.sock"))

    def build(cfg, where):
        return build_companion(cfg, where, identity=fixed_identity, environ={},
                               license_key=lambda: "")

    def run(*args: str, stdin: bytes | None = None) -> int:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        return cli.main(["--home", str(home), "--config", str(config), *args], build=build)

    assert run("consent", "grant") == 0
    return home, config, run, build


def test_host_info_says_not_running_then_running(setup, capsys, tmp_path):
    home, config, run, build = setup
    capsys.readouterr()
    assert run("host-info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["running"] is False and info["transport"] == "unix"
    assert info["address"] == str(tmp_path / "s" / "host.sock") and info["protocol"] == 1
    assert info["inbox"] == str(home / "inbox")
    companion = build(load_config(config), home)
    door = HostDoor(companion)
    door.start()
    try:
        assert run("host-info", "--json") == 0
        assert json.loads(capsys.readouterr().out)["running"] is True
        assert run("host-info") == 0
        text = capsys.readouterr().out
        assert "running:   yes" in text and str(home / "inbox") in text
    finally:
        door.stop()
        companion.close()


def test_track_jsonl_from_a_file_and_stdin(setup, capsys, tmp_path):
    home, config, run, build = setup
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"name":"feature.a","value":1}\n{"op":"track","name":"feature.b",'
                     '"text":"t"}\n')
    capsys.readouterr()
    assert run("track", "--jsonl", str(lines), "--json") == 0
    assert json.loads(capsys.readouterr().out)["stored"] == 2
    assert run("track", "--jsonl", "-", stdin=b'{"name":"feature.c","xy":[1,2]}\n'
               b'{"name":"feature.d","value":"x"}\nnot json\n') == 2
    captured = capsys.readouterr()
    assert "1 event(s) taken" in captured.out and "2 line(s) refused" in captured.out
    assert "line 2: value" in captured.err and "line 3" in captured.err
    companion = build(load_config(config), home)
    try:
        assert sum(companion.outbox.counts().values()) == 3
    finally:
        companion.close()


def test_track_jsonl_refuses_a_missing_file_and_mixed_arguments(setup, capsys, tmp_path):
    _home, _config, run, _build = setup
    assert run("track", "--jsonl", str(tmp_path / "missing.jsonl")) == 2
    assert "jsonl" in capsys.readouterr().err
    assert run("track", "feature.a", "--value", "1", "--jsonl", "-") == 2
    assert "not both" in capsys.readouterr().err
    assert run("track", "feature.a") == 2
    assert "--value" in capsys.readouterr().err


def test_status_counts_the_bad_inbox_lines(setup, capsys):
    home, config, run, build = setup
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "1-x.jsonl").write_bytes(b'{"name":"feature.a","value":1}\n{"nope":1}\n')
    companion = build(load_config(config), home)
    try:
        HostDoor(companion).ingest()
    finally:
        companion.close()
    capsys.readouterr()
    assert run("status", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inbox_rejected"] == 1 and "backends" in data
    assert run("status") == 0
    assert "1 bad line from applications" in capsys.readouterr().out


def test_without_a_transport_host_info_and_the_client_say_so(setup, capsys, monkeypatch,
                                                             tmp_path):
    monkeypatch.setattr(client_module, "transport_problem", lambda: WINDOWS)
    monkeypatch.setattr(endpoint_module, "transport_problem", lambda: WINDOWS)
    _home, _config, run, _build = setup
    capsys.readouterr()
    assert run("host-info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["transport"] == "unavailable" and info["problem"] == WINDOWS
    assert info["running"] is False
    c = Client(socket_path=tmp_path / "s" / "host.sock", inbox=tmp_path / "inbox")
    with pytest.raises(ClientError) as caught:
        c.consent()
    assert caught.value.code == "transport_unavailable" and WINDOWS in caught.value.message
    assert c.track("feature.a", value=1)["queued"] == "inbox"  # events still kept
    assert client_module.nudge(socket_path=tmp_path / "s" / "host.sock") is False


def test_send_delivers_what_hosts_left_in_the_inbox_with_no_endpoint(setup, capsys, monkeypatch,
                                                                     td):
    """No transport (as on Windows): the client keeps events in the inbox, and ``send`` takes
    them to the receiver, though no host door ever ran."""
    monkeypatch.setattr(client_module, "transport_problem", lambda: WINDOWS)
    home, config, _run, build = setup
    write_vendor_config(config, consent_version=1, telemetrydeck=telemetrydeck(td.url))
    c = Client(socket_path=home.parent / "s" / "host.sock", inbox=home / "inbox")
    assert c.track("feature.a", value=1)["queued"] == "inbox"
    assert c.track("feature.b", text="x")["queued"] == "inbox"
    assert cli.main(["--home", str(home), "--config", str(config), "send"], build=build) == 0
    assert sorted(e["type"] for e in td.accepted_events()) == ["feature.a", "feature.b"]
    assert not any((home / "inbox").glob("*.jsonl"))
