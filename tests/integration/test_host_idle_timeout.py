"""Idle connections expire, so idle clients cannot hold every slot and lock hosts out; a
connection that watches stays."""

from __future__ import annotations

import json
import socket

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.companion_side import CompanionHost
from app.door.server import HostServer, Limits
from app.storage.config import load_config
from tests.configs import write_vendor_config

pytestmark = pytest.mark.timeout(60)


def ask(sock: socket.socket, line: bytes) -> dict:
    sock.sendall(line)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, "closed"
        data += chunk
    return json.loads(data.splitlines()[-1])


def test_idle_connections_are_closed_and_others_get_in(tmp_path):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1)
    companion = build_companion(load_config(config), tmp_path / "home",
                                identity=lambda: Identity("u" * 32, "a" * 32, "t", "t"),
                                environ={}, license_key=lambda: "")
    path = tmp_path / "run" / "host.sock"
    server = HostServer(CompanionHost(companion), path,
                        Limits(max_connections=3, idle_timeout=0.3))
    server.start()
    socks = []
    try:
        for _ in range(3):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(20)
            sock.connect(str(path))
            socks.append(sock)
        watcher, *idle = socks
        assert ask(watcher, b'{"op":"watch"}\n')["ok"] is True
        for sock in idle:
            assert ask(sock, b'{"op":"hello"}\n')["ok"] is True
        for sock in idle:  # the companion closes them: end of stream
            assert sock.recv(65536) == b""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as late:
            late.settimeout(20)
            late.connect(str(path))
            assert ask(late, b'{"op":"hello"}\n')["ok"] is True
        assert ask(watcher, b'{"op":"hello"}\n')["ok"] is True
    finally:
        for sock in socks:
            sock.close()
        server.stop()
        companion.close()
