"""``Client(wait=False)`` against the real door and against real sockets that never answer or
that break: ``track`` returns before its answer, ``flush`` waits until every event is
acknowledged and raises the first refusal, a broken connection sends exactly the unanswered
events to the inbox with their ids, and a host that exits without ``close`` loses nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client, ClientError
from app.door.companion_side import CompanionHost
from app.door.server import HostServer
from app.storage.config import load_config

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]
CONFIG = """
[product]
name = "Nowait"
id = "nowait"
version = "1.0"

[keymanager]
enabled = false

[telemetrydeck]
url = "http://127.0.0.1:9/"
app_id = "APP"

[[consent.category]]
id = "usage"
events = ["App.*"]

[[consent.category]]
id = "diagnostics"
events = ["diag.*"]
"""


@pytest.fixture()
def sockdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lcn-", dir="/tmp"))  # AF_UNIX paths are short
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def door(tmp_path, sockdir):
    (tmp_path / "companion.toml").write_text(CONFIG)
    companion = build_companion(load_config(tmp_path / "companion.toml"), tmp_path / "home",
                                environ={}, license_key=lambda: "",
                                identity=lambda: Identity("u" * 32, "a" * 32, "test", "t"))
    companion.grant(["usage"])
    companion.revoke(["diagnostics"])
    host = CompanionHost(companion, flush=lambda: None)
    server = HostServer(host, sockdir / "run" / "host.sock")
    server.start()
    yield server, companion
    server.stop()
    companion.close()


def outbox_ids(companion) -> list[str]:
    db = sqlite3.connect(companion.db.path)
    try:
        return [row[0] for row in db.execute("SELECT event_id FROM outbox")]
    finally:
        db.close()


class LineServer:
    """A Unix socket that reads lines and calls ``then(conn, lines)`` once ``count`` arrived."""

    def __init__(self, path: Path, count: int,
                 then: Callable[[socket.socket, list[bytes]], None]) -> None:
        self.path = path
        self.lines: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.count, self.then = count, then
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        data = b""
        while data.count(b"\n") < self.count:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        self.lines = data.splitlines()
        self.then(conn, self.lines)

    def close(self) -> None:
        self.sock.close()


def inbox_events(inbox: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(inbox.glob("*.jsonl"))
            for line in f.read_text().splitlines()]


def test_track_returns_before_any_answer_and_close_moves_them_to_the_inbox(sockdir, tmp_path):
    silent = LineServer(sockdir / "host.sock", 50, lambda conn, lines: time.sleep(30))
    c = Client(socket_path=silent.path, inbox=tmp_path / "inbox", wait=False, timeout=0.5)
    started = time.perf_counter()
    answers = [c.track("App.a", i) for i in range(50)]
    took = time.perf_counter() - started
    assert took < 0.25, f"50 calls took {took:.3f} s: track waited for answers"
    assert {a["queued"] for a in answers} == {"socket"}
    with pytest.raises(ClientError) as late:
        c.flush(0.3, send=False)
    assert late.value.code == "timeout"
    c.close(timeout=0.2)
    silent.close()
    assert len(silent.lines) == 50
    assert [e["event_id"] for e in inbox_events(tmp_path / "inbox")] == \
        [a["event_id"] for a in answers]


def test_events_are_stored_and_a_refusal_reaches_on_error_and_the_next_flush(door, tmp_path):
    server, companion = door
    seen: list[ClientError] = []
    c = Client(socket_path=server.path, inbox=tmp_path / "inbox", wait=False,
               on_error=seen.append)
    ids = [c.track("App.a", i)["event_id"] for i in range(300)]
    c.track("App.bad", text="")
    c.track("diag.crash", text="boom")  # kept for no backend (denied): not a refusal
    batch = c.track_batch([{"name": "App.b", "value": 1, "event_id": "b-1"},
                           {"name": "", "value": 2}])
    assert batch == {"ok": True, "queued": "socket", "events": 2}
    with pytest.raises(ClientError) as refused:
        c.flush(10, send=False)
    assert (refused.value.code, refused.value.field, refused.value.refused) == \
        ("invalid_field", "text", 2)
    assert [(e.code, e.field) for e in seen] == [("invalid_field", "text"),
                                                 ("invalid_field", "events[1].name")]
    assert c.flush(10)["started"] is True  # nothing refused since; a send round asked for
    assert set(ids) | {"b-1"} <= set(outbox_ids(companion))
    assert c.license()["license"]["state"] == "no-key"  # queries are answered in order too
    c.close()
    assert not (tmp_path / "inbox").exists()


def test_a_broken_connection_sends_exactly_the_unanswered_events_to_the_inbox(sockdir, tmp_path):
    def answer_some_then_close(conn: socket.socket, lines: list[bytes]) -> None:
        conn.sendall(b'{"ok":true,"stored":true}\n' * 30)
        conn.close()

    breaking = LineServer(sockdir / "host.sock", 100, answer_some_then_close)
    c = Client(socket_path=breaking.path, inbox=tmp_path / "inbox", wait=False)
    ids = [c.track("App.a", i)["event_id"] for i in range(100)]
    c.flush(10, send=False)
    breaking.close()
    saved = inbox_events(tmp_path / "inbox")
    assert [e["event_id"] for e in saved] == ids[30:]
    assert [e["value"] for e in saved] == list(range(30, 100))


def test_beyond_max_pending_a_call_waits_then_the_inbox_keeps_everything(sockdir, tmp_path):
    silent = LineServer(sockdir / "host.sock", 5, lambda conn, lines: time.sleep(30))
    c = Client(socket_path=silent.path, inbox=tmp_path / "inbox", wait=False, timeout=0.3,
               max_pending=5)
    answers = [c.track("App.a", i) for i in range(6)]
    assert [a["queued"] for a in answers] == ["socket"] * 5 + ["inbox"]
    assert [e["value"] for e in inbox_events(tmp_path / "inbox")] == list(range(6))
    silent.close()


def test_no_companion_events_go_straight_to_the_inbox(tmp_path):
    c = Client(socket_path=tmp_path / "none.sock", inbox=tmp_path / "inbox", wait=False)
    assert c.track("App.a", 1)["queued"] == "inbox"
    assert c.flush(1) == {"ok": True, "action": "flush", "started": False}
    assert [e["value"] for e in inbox_events(tmp_path / "inbox")] == [1]


def test_a_host_that_exits_without_close_loses_nothing(door, tmp_path):
    server, companion = door
    script = ("import sys\nfrom app.door.client import Client\n"
              "c = Client(socket_path=sys.argv[1], wait=False)\n"
              "print(' '.join(c.track('App.a', i)['event_id'] for i in range(200)))\n")
    run = subprocess.run([sys.executable, "-c", script, str(server.path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LICENSE_COMPANION_HOME": str(tmp_path / "h")})
    assert run.returncode == 0, run.stderr
    assert set(run.stdout.split()) <= set(outbox_ids(companion))
    assert not (tmp_path / "h" / "inbox").exists()
