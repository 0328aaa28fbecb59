"""The host endpoint costs nothing while idle and wakes up for the right reasons.

Real Companion on real SQLite, real sockets, the real HostDoor. What is counted: the I/O
thread's turns (``HostServer.turns``) and the writer's chore runs (``HostWriter.chores``).
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from app.door.client import Client, nudge
from app.door.door import HostDoor
from app.door.endpoint import Limits
from tests.configs import offline_companion
from tests.procs import wait_for

pytestmark = pytest.mark.timeout(60)



@pytest.fixture()
def companion(tmp_path):
    comp = offline_companion(tmp_path)
    comp.grant(None)
    yield comp
    comp.close()


@pytest.fixture()
def door(companion, tmp_path):
    woken: list[str] = []
    d = HostDoor(companion, flush=lambda: woken.append("flush"),
                 wake=lambda: woken.append("wake"), path=tmp_path / "s" / "host.sock",
                 limits=Limits(watch_interval=0.2))
    d.start()
    d.woken = woken  # type: ignore[attr-defined]
    yield d
    d.stop()


def test_an_idle_endpoint_does_not_wake_up(door):
    assert wait_for(lambda: door.server._writer.chores == 1)  # the inbox, at start
    time.sleep(0.3)
    turns, chores = door.server.turns, door.server._writer.chores
    time.sleep(2.5)  # formerly: 10 selects of 0.25 s and a watch check every 2 s
    assert door.server.turns == turns
    assert door.server._writer.chores == chores


def test_an_idle_watcher_costs_nothing_either(door):
    client = Client(socket_path=door.address, inbox=door.inbox.path)
    client.watch()
    time.sleep(0.5)  # the baseline check
    turns = door.server.turns
    time.sleep(2.0)
    assert door.server.turns == turns
    client.close()


def test_a_connection_a_flush_and_ingest_soon_take_the_inbox(door):
    writer = door.server._writer
    assert wait_for(lambda: writer.chores == 1)
    (door.inbox.path / "h.jsonl").write_bytes(b'{"name":"feature.a","value":1}\n')
    client = Client(socket_path=door.address, inbox=door.inbox.path)
    client.hello()  # connecting
    assert wait_for(lambda: door.last_ingest.accepted == 1)
    before = writer.chores
    client.flush()
    # the ingested event woke the sender once (it was committed), then the flush asked again
    assert wait_for(lambda: writer.chores > before) and door.woken == ["wake", "flush"]
    before = writer.chores
    door.ingest_soon()
    assert wait_for(lambda: writer.chores > before)


def test_nudge_wakes_the_tray_and_never_blocks(door, tmp_path):
    before = door.server._writer.chores
    assert nudge(socket_path=door.address) is True
    assert wait_for(lambda: door.woken == ["wake"])
    assert wait_for(lambda: door.server._writer.chores > before)
    # Nothing there: False at once, no exception.
    started = time.monotonic()
    assert nudge(socket_path=tmp_path / "nowhere" / "host.sock") is False
    assert time.monotonic() - started < 1.0


def test_a_change_elsewhere_reaches_a_watcher_at_the_next_request(door, companion):
    watcher = Client(socket_path=door.address, inbox=door.inbox.path)
    watcher.watch()
    time.sleep(0.5)  # the baseline
    companion.revoke(["usage"])  # as another process would: no notify()
    assert watcher.next_push(timeout=0.5) is None  # nothing polls
    other = Client(socket_path=door.address, inbox=door.inbox.path)
    other.consent()  # any request lets the endpoint look (at most once per watch_interval)
    pushed = watcher.next_push(timeout=5)
    assert pushed and pushed["consent"]["categories"]["usage"]["choice"] == "denied"


def test_wake_tells_watchers_at_once(door, companion):
    watcher = Client(socket_path=door.address, inbox=door.inbox.path)
    watcher.watch()
    time.sleep(0.5)
    companion.grant(["usage"])
    companion.revoke(["performance"])
    nudge(socket_path=door.address)
    pushed = watcher.next_push(timeout=5)
    assert pushed and pushed["consent"]["categories"]["performance"]["choice"] == "denied"


def test_a_half_closed_connection_gets_every_answer(door):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(door.address))
    sock.sendall(b'{"op":"hello","id":1}\n{"op":"track","name":"feature.x","value":1,"id":2}\n'
                 b'{"op":"consent","id":3}\n{"op":"track","name":"feature.partial"')
    sock.shutdown(socket.SHUT_WR)  # what socat and nc do at the end of their input
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    answers = [json.loads(line) for line in data.splitlines()]
    assert [a["id"] for a in answers] == [1, 2, 3] and all(a["ok"] for a in answers)
    assert answers[1]["stored"]  # the partial last line was never taken
    assert wait_for(lambda: door.server.connection_count() == 0)
