"""Whatever is stored can be sent: timestamps out of range and lone surrogates are refused at
every door (socket, ``track --jsonl``, inbox), and a row already stored that cannot be prepared
is kept aside instead of stopping ``send`` and ``preview``."""

from __future__ import annotations

import json
import socket
import sqlite3

import pytest

from app import cli
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.companion_side import CompanionHost
from app.door.server import HostServer, Limits
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(90)

# Far past what the companion can represent, or written in milliseconds (``Date.now()``).
BAD_TIMESTAMPS = [253402300800, 1e15, 1.7e12, 9007199254740992, -1, 4102444801]


def fixed_identity() -> Identity:
    return Identity("u" * 32, "a" * 32, "test", "tester")


@pytest.fixture()
def setup(tmp_path, td):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck(td.url))
    home = tmp_path / "home"

    def build(cfg, where):
        return build_companion(cfg, where, identity=fixed_identity, environ={},
                               license_key=lambda: "")

    def run(*args: str) -> int:
        return cli.main(["--home", str(home), "--config", str(config), *args], build=build)

    assert run("consent", "grant") == 0
    return home, config, run, build


def _line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=True).encode() + b"\n"


def _read_line(sock: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return json.loads(data.decode("utf-8"))


@pytest.mark.parametrize("ts", BAD_TIMESTAMPS)
def test_track_jsonl_refuses_an_unrepresentable_timestamp(setup, tmp_path, capsys, ts):
    _home, _config, run, _build = setup
    path = tmp_path / "events.jsonl"
    path.write_bytes(_line({"name": "feature.a", "value": 1, "timestamp": ts})
                     + _line({"name": "feature.b", "value": 2}))
    capsys.readouterr()
    assert run("track", "--jsonl", str(path), "--json") == 2
    report = json.loads(capsys.readouterr().out)
    assert report["stored"] == 1 and report["rejected"] == 1
    assert report["errors"][0]["field"] == "timestamp"
    assert "timestamp" in report["errors"][0]["message"]
    assert run("send") == 0


def test_milliseconds_get_a_hint(setup, tmp_path, capsys):
    _home, _config, run, _build = setup
    path = tmp_path / "events.jsonl"
    path.write_bytes(_line({"name": "feature.a", "value": 1, "timestamp": 1765000000000}))
    capsys.readouterr()
    assert run("track", "--jsonl", str(path), "--json") == 2
    message = json.loads(capsys.readouterr().out)["errors"][0]["message"]
    assert "milliseconds" in message


def test_socket_refuses_bad_timestamps_and_surrogates_with_the_field(setup, tmp_path):
    home, config, _run, build = setup
    companion = build(load_config(config), home)
    path = tmp_path / "run" / "host.sock"
    server = HostServer(CompanionHost(companion), path, Limits(max_connections=4))
    server.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            for ts in BAD_TIMESTAMPS:
                sock.sendall(_line({"op": "track", "name": "feature.a", "value": 1,
                                    "timestamp": ts}))
                answer = _read_line(sock)
                assert answer["ok"] is False, ts
                assert answer["error"]["code"] == "invalid_field"
                assert answer["error"]["field"] == "timestamp"
            for bad in ({"payload": {"k\udc80": "v"}}, {"payload": {"k": "v\udc80"}},
                        {"name": "feature.\udc80"}):
                event = {"op": "track", "name": "feature.a", "value": 1, **bad}
                sock.sendall(_line(event))
                answer = _read_line(sock)
                assert answer["ok"] is False
                assert answer["error"]["code"] != "internal", answer
                assert "surrogate" in answer["error"]["message"]
            sock.sendall(_line({"op": "track", "name": "feature.ok", "value": 1}))
            assert _read_line(sock)["ok"] is True
    finally:
        server.stop()
        companion.close()


def test_inbox_line_with_a_lone_surrogate_is_rejected_and_the_rest_delivered(setup, td,
                                                                             capsys):
    home, _config, run, _build = setup
    inbox = home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    (inbox / "1-a.jsonl").write_bytes(
        _line({"name": "feature.a", "value": 1})
        + _line({"name": "feature.b", "value": 1, "payload": {"k\udc80": "v"}})
        + _line({"name": "feature.c", "value": 1, "payload": {"k": "\udc80"}})
        + _line({"name": "feature.\udc80", "value": 1})
        + _line({"name": "feature.d", "value": 1, "timestamp": 1.7e12})
        + _line({"name": "feature.e", "value": 1}))
    (inbox / "2-b.jsonl").write_bytes(_line({"name": "feature.f", "value": 1}))
    assert run("send") == 0
    assert sorted(e["type"] for e in td.accepted_events()) == ["feature.a", "feature.e",
                                                               "feature.f"]
    assert not list(inbox.glob("*.jsonl")) and not list(inbox.glob("*.claimed"))
    (kept_file,) = (inbox / "rejected").glob("1-a.*.rejected.jsonl")  # named after the claim
    kept = kept_file.read_text(encoding="utf-8")
    records = [json.loads(line) for line in kept.splitlines()]
    assert [r["line"] for r in records] == [2, 3, 4, 5]
    assert records[3]["error"]["field"] == "timestamp"
    capsys.readouterr()
    assert run("status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["inbox_rejected"] == 4
    assert status["quarantined"]["inbox"] == 4


@pytest.mark.parametrize("ts", [253402300800.0, 1.7e12, 1e300])
def test_a_stored_row_that_cannot_be_prepared_is_kept_aside(setup, td, capsys, ts):
    """A row an older version stored (a timestamp today's rules refuse) never makes send or
    preview exit 70: send moves it aside and counts it, and delivers the rest."""
    home, _config, run, _build = setup
    assert run("track", "feature.bad", "--value", "1") == 0
    assert run("track", "feature.good", "--value", "2") == 0
    db = sqlite3.connect(home / "companion.db")
    try:
        rows = db.execute("SELECT seq, CAST(event AS TEXT) FROM outbox").fetchall()
        for seq, body in rows:
            event = json.loads(body)
            if event["name"] == "feature.bad":
                event["timestamp"] = ts
                db.execute("UPDATE outbox SET event = ? WHERE seq = ?",
                           (json.dumps(event), seq))
        db.commit()
    finally:
        db.close()
    assert run("preview", "--json") == 0
    assert run("send") == 0
    assert [e["type"] for e in td.accepted_events()] == ["feature.good"]
    capsys.readouterr()
    assert run("status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["backends"]["telemetrydeck"]["unreadable"] == 1
    assert status["quarantined"]["outbox"] == 1
