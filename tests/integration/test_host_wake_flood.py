"""A flood of ``wake`` costs one pass per interval: the tray's sender and the inbox are asked
at most once a second, however many wakes a host sends; a single wake still acts at once.

Real Companion on real SQLite, real socket, the real HostDoor; what is counted: the tray's
wake callback (each call is a pass of its sender) and the writer's inbox takes
(``HostWriter.chores``).
"""

from __future__ import annotations

import socket
import time

import pytest

from app.door.door import HostDoor
from tests.configs import offline_companion
from tests.procs import wait_for

pytestmark = pytest.mark.timeout(60)
WAKES = 1000


@pytest.fixture()
def door(tmp_path):
    comp = offline_companion(tmp_path)
    comp.grant(None)
    passes: list[float] = []
    rounds: list[float] = []
    d = HostDoor(comp, wake=lambda: passes.append(time.monotonic()),
                 flush=lambda: rounds.append(time.monotonic()), path=tmp_path / "s" / "host.sock")
    d.start()
    d.passes = passes  # type: ignore[attr-defined]
    d.rounds = rounds  # type: ignore[attr-defined]
    yield d
    d.stop()
    comp.close()


def _connect(door) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(door.address))
    sock.settimeout(20)
    return sock


def _read_lines(sock: socket.socket, count: int) -> list[bytes]:
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed early"
        data += chunk
    return data.splitlines()


def test_a_single_wake_starts_a_pass_at_once(door):
    writer = door.server._writer
    assert wait_for(lambda: writer.chores == 1)  # the inbox, at start
    sock = _connect(door)
    started = time.monotonic()
    sock.sendall(b'{"op":"wake","id":1}\n')
    assert b'"action":"wake"' in _read_lines(sock, 1)[0]
    assert wait_for(lambda: len(door.passes) == 1, timeout=1.0)
    assert door.passes[0] - started < 0.5
    assert wait_for(lambda: writer.chores >= 2, timeout=1.0)
    sock.close()


def test_a_thousand_wakes_make_a_handful_of_passes(door):
    writer = door.server._writer
    assert wait_for(lambda: writer.chores == 1)
    sock = _connect(door)
    started = time.monotonic()
    sock.sendall(b'{"op":"wake"}\n' * WAKES)
    answers = _read_lines(sock, WAKES)
    assert len(answers) == WAKES and all(b'"ok":true' in a for a in answers)
    flood = time.monotonic() - started
    time.sleep(1.5)  # the trailing pass, once the interval ends
    allowed = 2 + int(flood)  # one now, one per second of flood, one at the end
    assert 1 <= len(door.passes) <= allowed, (len(door.passes), flood)
    assert all(b - a >= 0.9 for a, b in zip(door.passes, door.passes[1:], strict=False))
    assert writer.chores - 2 <= allowed, writer.chores  # less the one at start, the connection's
    assert door.host.wakes.asked == WAKES and door.server.wakes.asked == WAKES
    sock.close()


def test_a_thousand_flushes_force_a_handful_of_rounds(door):
    """``flush`` forces a round past the companion's backoff: a flood must not turn into a
    forced round per line against a failing server."""
    sock = _connect(door)
    sock.sendall(b'{"op":"flush","id":0}\n')
    assert b'"started":true' in _read_lines(sock, 1)[0]
    assert wait_for(lambda: len(door.rounds) == 1, timeout=0.5)  # the first one at once
    started = time.monotonic()
    sock.sendall(b'{"op":"flush"}\n' * WAKES)
    answers = _read_lines(sock, WAKES)
    assert len(answers) == WAKES and all(b'"started":true' in a for a in answers)
    flood = time.monotonic() - started
    time.sleep(1.5)
    assert 2 <= len(door.rounds) <= 3 + int(flood), (len(door.rounds), flood)
    assert all(b - a >= 0.9 for a, b in zip(door.rounds, door.rounds[1:], strict=False))
    sock.close()
