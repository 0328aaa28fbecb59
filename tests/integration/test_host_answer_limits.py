"""The answer-side limits, as docs/host-protocol.md states them: a client reads one answer line
of at most ``MAX_ANSWER`` bytes (a longer one breaks the connection, it never fills memory),
and the endpoint queues at most 1 MiB of answers for a client that does not read before it
stops reading that client.

Real Unix sockets: a real server thread that never ends its line, and the real HostServer with
its default limits and a real Companion on real SQLite.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import MAX_ANSWER, Client, ClientError
from app.door.companion_side import CompanionHost
from app.door.server import HostServer, Limits
from app.storage.config import load_config
from tests.configs import write_vendor_config

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(os.name != "posix", reason="Unix sockets")]
MIB = 1024 * 1024


def test_an_endless_answer_line_breaks_the_connection_at_the_clients_limit(tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    path = run / "host.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    sent = [0]

    def endless() -> None:  # reads the request, then an answer line that never ends
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            while b"\n" not in conn.recv(65536):
                pass
            chunk = b"x" * 65536
            while True:
                sent[0] += conn.send(chunk)

    server = threading.Thread(target=endless, daemon=True)
    server.start()
    try:
        client = Client(socket_path=path, inbox=tmp_path / "inbox", fallback=False)
        with pytest.raises(ClientError) as caught:
            client.hello()
        assert caught.value.code == "connection"
        assert f"longer than {MAX_ANSWER} bytes" in str(caught.value)
        client.close()
        server.join(10)
        assert not server.is_alive()  # the client closed: the server's send failed
        assert sent[0] <= MAX_ANSWER + 4 * MIB  # the limit, the sockets' buffers
    finally:
        listener.close()


def test_a_client_that_never_reads_queues_at_most_1_mib_of_answers(tmp_path):
    assert Limits().max_output == MIB  # the documented default
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1)
    companion = build_companion(load_config(config), tmp_path / "home",
                                identity=lambda: Identity("u" * 32, "a" * 32, "t", "t"),
                                environ={}, license_key=lambda: "")
    path = tmp_path / "run" / "host.sock"
    server = HostServer(CompanionHost(companion), path)  # the default limits
    server.start()
    lazy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lazy.connect(str(path))
        lazy.setblocking(False)
        request = b'{"op":"watch","on":false}\n'  # answered on the I/O thread itself
        peak = 0
        last_growth = time.monotonic()
        deadline = last_growth + 20
        while time.monotonic() < deadline and time.monotonic() - last_growth < 2.0:
            with contextlib.suppress(BlockingIOError):
                lazy.send(request * 1000)
            queued = max((len(c.outbuf) for c in list(server._conns)), default=0)
            if queued > peak:
                peak, last_growth = queued, time.monotonic()
            time.sleep(0.005)
        answer = len(b'{"ok":true,"watching":false,"pushes":["consent","license","drops"]}\n')
        assert peak >= MIB - 65536  # it did fill up to the bound ...
        # ... and stopped there: at most the answers to one read (64 KiB) of lines beyond it
        assert peak <= MIB + (65536 // len(request) + 1) * answer, peak
        assert server.connection_count() == 1  # still served: within its stall deadline
    finally:
        lazy.close()
        server.stop()
        companion.close()
