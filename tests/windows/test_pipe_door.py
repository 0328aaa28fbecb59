"""The host door over the Windows named pipe: a real Companion on real SQLite, the real pipe
(``app.door.pipe``), the real client, hostile clients, and the pipe's security read back."""

from __future__ import annotations

import _winapi
import json
import os
import sqlite3
import threading

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client, ClientError, pipe_name, win_connect, win_user_sid
from app.door.companion_side import CompanionHost
from app.door.pipe import (
    FILE_FLAG_FIRST_PIPE_INSTANCE,
    PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_BYTE,
    PipeTransport,
    dacl_sddl,
)
from app.door.server import HostServer, HostServerError, Limits
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(120)

CONFIG = """
[product]
name = "Pipe Test"
id = "pipe-test"
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


def build(config_path, home):
    comp = build_companion(load_config(config_path), home, identity=lambda: Identity(
        "u" * 32, "a" * 32, "test", "tester"), environ={}, license_key=lambda: "")
    comp.grant(["usage"])
    comp.revoke(["diagnostics"])
    return comp


@pytest.fixture()
def companion(tmp_path):
    path = tmp_path / "companion.toml"
    path.write_text(CONFIG)
    comp = build(path, tmp_path / "home")
    yield comp
    comp.close()


def unique_name() -> str:
    return pipe_name(f"pipe-test-{os.urandom(6).hex()}")


@pytest.fixture()
def served(companion):
    server = HostServer(CompanionHost(companion), unique_name(), Limits(
        max_connections=8, partial_deadline=0.6, stall_deadline=1.0, max_output=64 * 1024))
    server.start()
    yield server
    server.stop()


def outbox_ids(companion) -> set[str]:
    db = sqlite3.connect(companion.db.path)
    try:
        return {row[0] for row in db.execute("SELECT event_id FROM outbox")}
    finally:
        db.close()


def read_line(pipe) -> dict:
    data = b""
    pipe.settimeout(10)
    while not data.endswith(b"\n"):
        chunk = pipe.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return json.loads(data.split(b"\n")[0])


def test_round_trip_track_and_license_over_the_pipe(served, companion, tmp_path):
    assert served.path.startswith("\\\\.\\pipe\\license-companion-pipe-test-")
    assert served.path.endswith(win_user_sid())
    c = Client(socket_path=served.path, inbox=tmp_path / "unused", fallback=False)
    hello = c.hello()
    assert hello["protocol"] == 1 and hello["product"]["id"] == "pipe-test"
    tracked = c.track("App.started", 1, payload={"edition": "pro"})
    assert tracked["stored"] and tracked["category"] == "usage"
    assert c.track("diag.crash", text="boom")["stored"] is False
    batch = c.track_batch([{"name": "feature.a", "value": 1}, {"name": "x", "xy": [1, 2]}])
    assert batch["accepted"] == 1 and batch["results"][1]["error"]["field"] == "name"
    with pytest.raises(ClientError) as bad:
        c.track("App.x", 1, payload={"nested": {"no": 1}})
    assert bad.value.code == "invalid_field" and bad.value.field == "payload.nested"
    lic = c.license()
    assert lic["license"]["state"] == "no-key" and lic["offline"]["counts_as_valid"] is False
    assert c.consent()["categories"]["usage"]["choice"] == "granted"
    ids = {tracked["event_id"], batch["results"][0]["event_id"]}
    assert ids <= outbox_ids(companion)
    c.close()
    assert not (tmp_path / "unused").exists()


def test_hostile_lines_are_answered_and_normal_clients_get_through(served, companion,
                                                                   tmp_path):
    answers = {}
    for name, data in {"utf8": b"\xff\xfe\n", "json": b"{nope\n", "deep": b"[" * 50_000 + b"\n",
                       "number": b'{"op":"track","name":"App.a","value":' + b"9" * 30 + b"}\n",
                       "op": b'{"op":"format_disk"}\n'}.items():
        pipe = win_connect(served.path, 5)
        try:
            pipe.sendall(data)
            answers[name] = read_line(pipe)["error"]["code"]
        finally:
            pipe.close()
    assert answers == {"utf8": "bad_utf8", "json": "bad_json", "deep": "too_deep",
                       "number": "bad_number", "op": "unknown_op"}
    slow = win_connect(served.path, 5)  # half a line, then nothing: cut off at the deadline
    slow.sendall(b'{"op":"hel')
    assert read_line(slow)["error"]["code"] == "timeout"
    slow.close()
    mid = win_connect(served.path, 5)  # gone in the middle of a batch: nothing of it is kept
    mid.sendall(b'{"op":"track_batch","events":[{"name":"App.half","value":1},')
    mid.close()
    acknowledged: set[str] = set()
    lock = threading.Lock()
    errors: list[Exception] = []

    def host(n: int) -> None:
        try:
            c = Client(socket_path=served.path, inbox=tmp_path / f"inbox{n}", fallback=False)
            for i in range(20):
                answer = c.track("feature.used", i, payload={"host": n})
                with lock:
                    acknowledged.add(answer["event_id"])
            c.close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=host, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(acknowledged) == 80
    assert outbox_ids(companion) == acknowledged  # the cut batch and the bad lines left nothing


def test_a_line_over_the_limit_is_refused_and_the_connection_closed(served):
    pipe = win_connect(served.path, 5)
    try:
        with pytest.raises(OSError):
            pipe.sendall(b"a" * (2 * 1024 * 1024))
        assert read_line(pipe)["error"]["code"] == "line_too_long"
    finally:
        pipe.close()


def test_connection_limit(served):
    held = [win_connect(served.path, 5) for _ in range(8)]
    for pipe in held:
        pipe.sendall(b'{"op":"hello"}\n')
        assert read_line(pipe)["ok"]
    extra = win_connect(served.path, 5)
    assert read_line(extra)["error"]["code"] == "too_many_connections"
    extra.close()
    for pipe in held:
        pipe.close()


def test_a_spare_instance_always_waits(served, tmp_path):
    """Many clients in a row, each connecting right after the last: none finds no pipe."""
    for n in range(60):
        c = Client(socket_path=served.path, inbox=tmp_path / "unused", fallback=False,
                   connect_timeout=0.05)
        assert c.hello()["ok"], n
        c.close()
        assert served._transport.spare_handle()
    assert not (tmp_path / "unused").exists()


def test_the_dacl_admits_only_this_user(served):
    sddl = dacl_sddl(served._transport.spare_handle())
    assert sddl.startswith("D:P")  # protected: nothing inherited
    aces = sddl[3:].strip("()").split(")(")
    assert len(aces) == 1
    kind, _flags, _rights, _obj, _inherit, sid = aces[0].split(";")
    assert kind == "A" and sid == win_user_sid()


def test_the_instances_are_created_with_the_flags():
    calls: list[tuple[int, int]] = []

    def spy(name, open_mode, pipe_mode, *rest):
        calls.append((open_mode, pipe_mode))
        return _winapi.CreateNamedPipe(name, open_mode, pipe_mode, *rest)

    transport = PipeTransport(unique_name(), create=spy)
    transport.open()
    try:
        client = win_connect(transport.name, 5)  # takes the first: a spare is made at once
        transport.select(5)
        assert transport.accept() is not None
        client.close()
    finally:
        transport.close()
    assert len(calls) >= 2
    assert calls[0][0] & FILE_FLAG_FIRST_PIPE_INSTANCE
    assert not any(mode & FILE_FLAG_FIRST_PIPE_INSTANCE for mode, _ in calls[1:])
    assert all(pipe_mode & PIPE_REJECT_REMOTE_CLIENTS for _, pipe_mode in calls)
    assert all(pipe_mode & 0x4 == PIPE_TYPE_BYTE for _, pipe_mode in calls)  # not messages


def test_the_server_refuses_when_the_name_is_held(companion):
    """Windows fails the first instance when any process holds the name (Wine does not:
    this stands in for that answer)."""

    def held(name, open_mode, *rest):
        if open_mode & FILE_FLAG_FIRST_PIPE_INSTANCE:
            raise PermissionError(13, "Access is denied", None, 5)
        return _winapi.CreateNamedPipe(name, open_mode, *rest)

    name = unique_name()
    server = HostServer(CompanionHost(companion), name,
                        transport=PipeTransport(name, create=held))
    with pytest.raises(HostServerError) as refused:
        server.start()
    assert "already held by another program" in str(refused.value)
    assert server.running is False
    with pytest.raises(ClientError) as none:  # and nothing was left listening
        win_connect(name, 0.1)
    assert none.value.code == "not_running"


def test_events_are_delivered_exactly_once_to_the_receiver(tmp_path, td):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck(td.url))
    comp = build_companion(load_config(config), tmp_path / "home", identity=lambda: Identity(
        "u" * 32, "a" * 32, "test", "tester"), environ={}, license_key=lambda: "")
    try:
        comp.grant()
        server = HostServer(CompanionHost(comp), unique_name())
        server.start()
        try:
            c = Client(socket_path=server.path, inbox=tmp_path / "unused", fallback=False)
            for i in range(5):
                assert c.track(f"feature.n{i}", value=i)["stored"]
            c.close()
        finally:
            server.stop()
        comp.send(force=True)
        comp.send(force=True)
    finally:
        comp.close()
    assert sorted(e["type"] for e in td.accepted_events()) == [f"feature.n{i}"
                                                               for i in range(5)]


def test_a_client_that_never_reads_is_cut_off(served):
    """Pipelined requests, answers never read: the server stops reading at its output bound,
    then closes the pipe at the stall deadline (the writes then fail)."""
    lazy = win_connect(served.path, 5)
    lazy.settimeout(20)
    sent = 0
    with pytest.raises(OSError):
        for _ in range(2000):
            lazy.sendall(b'{"op":"hello"}\n' * 200)
            sent += 1
    assert sent * 200 * 15 > 64 * 1024
    lazy.close()
    for _ in range(100):
        if served.connection_count() == 0:
            break
        served._transport.wake()
        threading.Event().wait(0.05)
    assert served.connection_count() == 0
