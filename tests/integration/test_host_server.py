"""The host endpoint with a real Companion on real SQLite, real sockets and hostile clients."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client, ClientError
from app.door.companion_side import CompanionHost
from app.door.ingest import ingest_inbox, ingest_jsonl
from app.door.protocol import ErrorReply, TrackItem
from app.door.server import HostServer, Limits
from app.storage.config import load_config
from app.storage.inbox import Inbox

pytestmark = pytest.mark.timeout(120)

CONFIG = """
[product]
name = "Host Test"
id = "host-test"
version = "2.0"

[keymanager]
enabled = false

[telemetrydeck]
url = "http://127.0.0.1:9/"
app_id = "APP"

[[consent.category]]
id = "usage"
events = ["App.*", "feature.*"]

[[consent.category]]
id = "diagnostics"
events = ["diag.*"]
"""


@pytest.fixture()
def companion(tmp_path):
    path = tmp_path / "companion.toml"
    path.write_text(CONFIG)
    comp = build_companion(load_config(path), tmp_path / "home", identity=lambda: Identity(
        "u" * 32, "a" * 32, "test", "tester"), environ={}, license_key=lambda: "")
    comp.grant(["usage"])
    comp.revoke(["diagnostics"])
    yield comp
    comp.close()


def outbox_ids(companion) -> set[str]:
    db = sqlite3.connect(companion.db.path)
    try:
        return {row[0] for row in db.execute("SELECT event_id FROM outbox")}
    finally:
        db.close()


@pytest.fixture()
def served(companion, tmp_path):
    actions: list[str] = []
    host = CompanionHost(companion, show=lambda w: actions.append(f"show:{w}"),
                         flush=lambda: actions.append("flush"))
    path = tmp_path / "run" / "lc-host-test" / "host.sock"
    server = HostServer(host, path, Limits(max_connections=8, partial_deadline=0.6,
                                           stall_deadline=1.0, max_output=64 * 1024,
                                           watch_interval=0.2))
    server.start()
    yield server, actions
    server.stop()


def raw(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(str(path))
    return sock


def read_line(sock) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return json.loads(data.split(b"\n")[0])


def test_operations_from_the_python_client(served, companion, tmp_path):
    server, actions = served
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(server.path.parent).st_mode) == 0o700
    c = Client(socket_path=server.path, inbox=tmp_path / "unused")
    hello = c.hello()
    assert hello["protocol"] == 1 and hello["product"]["id"] == "host-test"
    tracked = c.track("App.started", 1, payload={"edition": "pro"})
    assert tracked["stored"] and tracked["category"] == "usage"
    denied = c.track("diag.crash", text="boom")
    assert denied["stored"] is False
    batch = c.track_batch([{"name": "feature.a", "value": 1}, {"name": "x", "xy": [1, 2]},
                           {"name": "feature.b", "xy": [1, 2]}])
    assert batch["accepted"] == 2 and batch["results"][1]["error"]["field"] == "name"
    with pytest.raises(ClientError) as bad:
        c.track("App.x", 1, payload={"nested": {"no": 1}})
    assert bad.value.code == "invalid_field" and bad.value.field == "payload.nested"
    consent = c.consent()
    assert consent["categories"]["usage"]["choice"] == "granted"
    assert consent["categories"]["diagnostics"]["choice"] == "denied"
    assert consent["do_not_track"] is False
    lic = c.license()
    assert lic["license"]["state"] == "no-key" and lic["offline"]["counts_as_valid"] is False
    assert c.show("consent")["action"] == "show" and c.flush()["started"]
    assert actions == ["show:consent", "flush"]
    ids = {tracked["event_id"], *(r["event_id"] for r in batch["results"] if r["ok"])}
    assert ids <= outbox_ids(companion)
    assert not (tmp_path / "unused").exists()


def test_watch_pushes_a_consent_change(served, companion, tmp_path):
    server, _ = served
    c = Client(socket_path=server.path, inbox=tmp_path / "inbox")
    c.watch()
    time.sleep(0.5)  # the first check records the state
    companion.revoke(["usage"])
    server.notify()
    pushed = c.next_push(timeout=5)
    assert pushed is not None and pushed["push"] == "consent"
    assert pushed["consent"]["categories"]["usage"]["choice"] == "denied"


def test_group_commit_is_one_transaction_and_refusals_leave_no_trace(companion):
    host = CompanionHost(companion)
    commits: list[str] = []
    conn = companion.db.connection()
    conn.set_trace_callback(lambda sql: commits.append(sql) if sql.startswith("COMMIT") else 0)
    items = [TrackItem("App.a", "number", 1), TrackItem("nowhere", "number", 2),
             TrackItem("App.b", "text", "t")]
    outcomes = host.commit(items)
    conn.set_trace_callback(None)
    assert [o.error is None for o in outcomes] == [True, False, True]
    assert commits == ["COMMIT"]
    assert {o.event_id for o in outcomes if o.event_id} == outbox_ids(companion)


def test_group_rolls_back_whole_on_failure(companion):
    before = outbox_ids(companion)
    with pytest.raises(RuntimeError), companion.db.write():
        companion.track("App.a", kind="number", value=1)
        raise RuntimeError("crash before the commit")
    assert outbox_ids(companion) == before


def test_hostile_clients_then_normal_clients_get_through(served, companion, tmp_path):
    server, _ = served
    path = server.path
    answers = {}
    for name, data in {"utf8": b"\xff\xfe\n", "json": b"{nope\n", "deep": b"[" * 50_000 + b"\n",
                       "number": b'{"op":"track","name":"App.a","value":' + b"9" * 30 + b"}\n",
                       "op": b'{"op":"format_disk"}\n'}.items():
        with raw(path) as sock:
            sock.sendall(data)
            answers[name] = read_line(sock)["error"]["code"]
    assert answers == {"utf8": "bad_utf8", "json": "bad_json", "deep": "too_deep",
                       "number": "bad_number", "op": "unknown_op"}
    with raw(path) as sock:  # a huge line: an error, then the connection closes
        sock.sendall(b"a" * (2 * 1024 * 1024))
        assert read_line(sock)["error"]["code"] == "line_too_long"
    slow = raw(path)  # slowloris: half a line, then nothing
    slow.sendall(b'{"op":"hel')
    assert read_line(slow)["error"]["code"] == "timeout"
    slow.close()
    mid = raw(path)  # disconnect in the middle of a batch line: nothing of it is stored
    mid.sendall(b'{"op":"track_batch","events":[{"name":"App.half","value":1},')
    mid.close()
    lazy = raw(path)  # never reads: pipelines many requests, must be cut off
    lazy.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                sent += lazy.send(b'{"op":"hello"}\n' * 200)
            except BlockingIOError:
                time.sleep(0.05)
    except OSError:
        pass  # closed by the server
    assert sent > 64 * 1024
    wait = time.monotonic() + 5
    while server.connection_count() > 0 and time.monotonic() < wait:
        time.sleep(0.05)
    assert server.connection_count() == 0
    lazy.close()

    acknowledged: set[str] = set()
    lock = threading.Lock()
    errors: list[Exception] = []

    def host(n: int) -> None:
        try:
            c = Client(socket_path=path, inbox=tmp_path / f"inbox{n}", fallback=False)
            for i in range(50):
                answer = c.track("feature.used", i, payload={"host": n})
                with lock:
                    acknowledged.add(answer["event_id"])
            batch = c.track_batch([{"name": "App.batch", "value": i} for i in range(100)])
            with lock:
                acknowledged.update(r["event_id"] for r in batch["results"])
            c.close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=host, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(acknowledged) == 6 * 150
    assert acknowledged <= outbox_ids(companion)


def test_connection_limit(served):
    server, _ = served
    held = [raw(server.path) for _ in range(8)]
    for sock in held:
        sock.sendall(b'{"op":"hello"}\n')
        assert read_line(sock)["ok"]
    with raw(server.path) as extra:
        assert read_line(extra)["error"]["code"] == "too_many_connections"
    for sock in held:
        sock.close()


def test_second_server_on_the_same_path_is_refused(served, companion):
    from app.door.server import HostServerError

    server, _ = served
    with pytest.raises(HostServerError):
        HostServer(CompanionHost(companion), server.path).start()


def test_without_a_companion_events_go_to_the_inbox_and_are_ingested(companion, tmp_path):
    inbox_path = tmp_path / "home" / "inbox"
    c = Client(socket_path=tmp_path / "nobody.sock", inbox=inbox_path)
    first = c.track("App.offline", 1)
    assert first["queued"] == "inbox"
    c.track_batch([{"name": "App.b", "value": 2}, {"name": "", "value": 3}])
    with pytest.raises(ClientError) as no_license:
        c.license()
    assert no_license.value.code == "not_running"
    files = list(inbox_path.glob("*.jsonl"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    with open(files[0], "ab") as handle:  # a host killed mid-line
        handle.write(b'{"name":"App.cut","val')
    (inbox_path / "other.jsonl").write_bytes(b"\xff\n{\"name\": \"App.c\", \"text\": \"ok\"}\n")
    inbox = Inbox(inbox_path)
    report = ingest_inbox(inbox, CompanionHost(companion))
    assert (report.accepted, report.rejected) == (3, 3)
    assert sorted(e["code"] for e in report.errors) == ["bad_utf8", "invalid_field",
                                                        "unfinished_line"]
    assert inbox.rejected_count() == 3
    assert not list(inbox_path.glob("*.jsonl")) and not list(inbox_path.glob("*.claimed"))
    assert len(outbox_ids(companion)) == 3
    assert ingest_inbox(inbox, CompanionHost(companion)).accepted == 0  # nothing twice


def test_ingest_jsonl_from_a_stream(companion, tmp_path):
    import io

    data = b'{"name":"App.a","value":1}\n\n{"op":"track","name":"App.b","text":"x"}\n' \
        b'{"name":"App.c"}\n' + b'{"name":"App.d","text":"' + b"x" * (2 * 1024 * 1024) + b'"}\n' \
        b'{"name":"App.e","xy":[1,2]}'
    report = ingest_jsonl(io.BytesIO(data), CompanionHost(companion))
    assert (report.accepted, report.rejected) == (3, 2)
    assert [(e["line"], e["code"]) for e in report.errors] == [(4, "invalid_field"),
                                                               (5, "line_too_long")]
    path = tmp_path / "events.jsonl"
    path.write_text('{"name":"App.f","value":1}\n', encoding="utf-8")
    assert ingest_jsonl(path, CompanionHost(companion)).accepted == 1
    assert isinstance(ErrorReply("x", "y"), ErrorReply)


def test_pipelined_requests_are_answered_in_order(served, companion):
    server, _ = served
    with raw(server.path) as sock:
        lines = [json.dumps({"op": "track", "name": "App.p", "value": i, "id": i}).encode()
                 + b"\n" for i in range(1000)]
        lines.insert(500, b'{"op":"consent","id":"c"}\n')
        sender = threading.Thread(target=sock.sendall, args=(b"".join(lines),))
        sender.start()
        buf = b""
        answers = []
        while len(answers) < 1001:
            chunk = sock.recv(65536)
            assert chunk
            buf += chunk
            *done, buf = buf.split(b"\n")
            answers += [json.loads(d) for d in done]
        sender.join()
    assert [a["id"] for a in answers] == [*range(500), "c", *range(500, 1000)]
    assert all(a["ok"] for a in answers)
    assert {a["event_id"] for a in answers if "event_id" in a} <= outbox_ids(companion)


HOST_SCRIPT = """
import sys, json
import app.door.client as c
c.configure(socket_path=sys.argv[1], inbox=sys.argv[2], fallback=False)
ids = [c.track("feature.proc", i, payload={"pid": i})["event_id"] for i in range(100)]
ids += [r["event_id"] for r in c.track_batch([{"name": "App.p", "value": i}
                                              for i in range(200)])["results"]]
print(json.dumps(ids))
"""


def test_several_host_processes(served, companion, tmp_path):
    import subprocess
    import sys

    server, _ = served
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, str(server.path),
                               str(tmp_path / "in")], stdout=subprocess.PIPE, env=env)
             for _ in range(4)]
    acknowledged: set[str] = set()
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        acknowledged.update(json.loads(out))
    assert len(acknowledged) == 4 * 300
    assert acknowledged <= outbox_ids(companion)


def test_tracking_never_waits_for_a_stuck_send_round(tmp_path):
    from app.receiver import Hang, TelemetryDeckReceiver

    with TelemetryDeckReceiver() as rx:
        rx.script(Hang(20))
        path = tmp_path / "companion.toml"
        path.write_text(CONFIG.replace("http://127.0.0.1:9/", rx.url).replace(
            "[telemetrydeck]", "[telemetrydeck]\ntimeout = 15"))
        comp = build_companion(load_config(path), tmp_path / "home", identity=lambda: Identity(
            "u" * 32, "a" * 32, "test", "tester"), environ={})
        comp.grant()
        comp.track("App.first", kind="number", value=1)
        server = HostServer(CompanionHost(comp), tmp_path / "run" / "x" / "host.sock")
        server.start()
        try:
            round_thread = threading.Thread(target=comp.send_round, daemon=True)
            round_thread.start()
            time.sleep(0.5)
            assert round_thread.is_alive()  # the round hangs on the receiver
            c = Client(socket_path=server.path, inbox=tmp_path / "in", fallback=False)
            ids = {c.track("App.during", i)["event_id"] for i in range(20)}
            assert round_thread.is_alive()  # every answer came while the round still hung
            assert ids <= outbox_ids(comp)
        finally:
            server.stop()
            rx.close()
            round_thread.join(30)
            comp.close()


def test_host_info_names_address_and_inbox(companion, tmp_path, monkeypatch):
    from app.door.endpoint import host_info

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    info = host_info(companion.config, companion.home)
    assert info["address"] == str(tmp_path / "rt" / "license-companion-host-test" / "host.sock")
    assert info["running"] is False and info["protocol"] == 1
    assert info["inbox"] == str(companion.home / "inbox")
    server = HostServer(CompanionHost(companion), Path(info["address"]))
    server.start()
    try:
        assert host_info(companion.config, companion.home)["running"] is True
    finally:
        server.stop()
    assert not Path(info["address"]).exists()


def test_client_falls_back_and_reconnects_when_the_companion_comes_back(companion, tmp_path):
    import app.door.client as client_module

    path = tmp_path / "run" / "y" / "host.sock"
    server = HostServer(CompanionHost(companion), path)
    server.start()
    c = Client(socket_path=path, inbox=tmp_path / "in")
    assert "event_id" in c.track("App.one", 1)
    server.stop()
    assert c.track("App.two", 2)["queued"] == "inbox"  # the broken connection: fallback
    assert c.track("App.three", 3)["queued"] == "inbox"  # no retry storm: straight to inbox
    server = HostServer(CompanionHost(companion), path)
    server.start()
    try:
        time.sleep(client_module.RETRY_CONNECT + 0.1)
        assert "event_id" in c.track("App.four", 4)
    finally:
        server.stop()
    report = ingest_inbox(Inbox(tmp_path / "in"), CompanionHost(companion))
    assert report.accepted == 2


def test_the_door_takes_the_inbox_at_start_and_when_asked(companion, tmp_path):
    from app.door.door import HostDoor

    inbox = companion.home / "inbox"
    offline = Client(socket_path=tmp_path / "d" / "host.sock", inbox=inbox)
    assert offline.track("App.before", 1)["queued"] == "inbox"
    offline.close()
    door = HostDoor(companion, path=tmp_path / "d" / "host.sock")
    door.start()
    try:
        deadline = time.monotonic() + 10
        while door.last_ingest.accepted < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert door.last_ingest.accepted == 1
        (inbox / "late.jsonl").write_bytes(b'{"name":"App.late","value":2}\nnot json\n')
        door.ingest_soon()
        deadline = time.monotonic() + 10
        while door.rejected_total() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert door.rejected_total() == 1 and door.last_ingest.accepted == 1
        live = Client(socket_path=door.address, inbox=inbox)
        assert "event_id" in live.track("App.live", 3)
    finally:
        door.stop()
    assert len(outbox_ids(companion)) == 3


def test_random_bytes_never_break_the_endpoint(served, companion, tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    server, _ = served

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.binary(max_size=200), min_size=1, max_size=5))
    def throw(chunks):
        with raw(server.path) as sock:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.sendall(b"\n")
            sock.settimeout(3)
            data = b""
            try:  # every complete line gets an answer; a closed connection is also fine
                while data.count(b"\n") < b"".join(chunks).count(b"\n") + 1:
                    more = sock.recv(65536)
                    if not more:
                        break
                    data += more
            except TimeoutError:
                pass
            for answer in data.splitlines():
                assert "ok" in json.loads(answer)

    throw()
    c = Client(socket_path=server.path, inbox=tmp_path / "in", fallback=False)
    assert c.track("App.after", 1)["event_id"] in outbox_ids(companion)


def test_one_client_shared_by_threads(served, companion, tmp_path):
    server, _ = served
    shared = Client(socket_path=server.path, inbox=tmp_path / "in", fallback=False)
    got: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(50):
            answer = shared.track("feature.shared", i, payload={"t": n})
            with lock:
                got.append(answer["event_id"])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(set(got)) == 200 and set(got) <= outbox_ids(companion)
