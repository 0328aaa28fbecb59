"""A line over the limit is answered ``line_too_long`` even to a client still sending it.

Real Companion on real SQLite, real Unix sockets, the real HostDoor. The endpoint half-closes
after the answer and reads on (bounded) so the client is not reset before it can read.
"""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from app.door import server as host_server
from app.door.door import HostDoor
from tests.configs import offline_companion
from tests.procs import wait_for

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(os.name != "posix", reason="Unix sockets half-close")]
MIB = 1024 * 1024


@pytest.fixture()
def door(tmp_path):
    comp = offline_companion(tmp_path)
    d = HostDoor(comp, path=tmp_path / "s" / "host.sock")
    d.start()
    yield d
    d.stop()
    comp.close()


def _connect(door) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(door.address))
    sock.settimeout(10)
    return sock


def test_a_client_sending_a_4_mib_line_reads_the_line_too_long_answer(door):
    sock = _connect(door)
    sock.sendall(b'{"op":"track","name":"feature.a","value":"' + b"a" * (4 * MIB))
    data = b""
    while chunk := sock.recv(65536):  # the answer, then end of file (not a reset)
        data += chunk
    sock.close()
    (line,) = data.splitlines()
    assert json.loads(line)["error"]["code"] == "line_too_long"
    assert wait_for(lambda: door.server.connection_count() == 0)


def test_a_client_that_never_stops_sending_is_closed_within_the_bound(door):
    sock = _connect(door)
    chunk = b"b" * 65536
    started = time.monotonic()
    sent = 0
    with pytest.raises(OSError):
        while time.monotonic() - started < 20:
            sock.sendall(chunk)
            sent += len(chunk)
    elapsed = time.monotonic() - started
    sock.close()
    assert elapsed < host_server.DRAIN_SECONDS + 3
    assert sent <= host_server.DRAIN_BYTES + 2 * MIB + 4 * MIB  # the bound, the socket buffers
    assert wait_for(lambda: door.server.connection_count() == 0)
