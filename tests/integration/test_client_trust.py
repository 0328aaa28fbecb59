"""The Unix client trusts the socket only after checking it: the directory and the socket are
this user's, nobody else can swap them, and the serving process runs as this user. On a
mismatch the event goes to the inbox, never to the stranger. Changing owners needs root."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import tempfile
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client, ClientError
from app.door.companion_side import CompanionHost
from app.door.server import HostServer, Limits
from app.storage.config import load_config
from tests.configs import write_vendor_config

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                                 reason="changing a file's owner needs root")]
OTHER = 65534  # nobody


@pytest.fixture()
def served(tmp_path):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1)
    companion = build_companion(load_config(config), tmp_path / "home",
                                identity=lambda: Identity("u" * 32, "a" * 32, "t", "t"),
                                environ={}, license_key=lambda: "")
    companion.grant(None)
    path = tmp_path / "run" / "lc" / "host.sock"
    server = HostServer(CompanionHost(companion), path, Limits(max_connections=4))
    server.start()
    yield companion, path
    server.stop()
    companion.close()


def stored(companion) -> int:
    db = sqlite3.connect(companion.db.path)
    try:
        return db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    finally:
        db.close()


def inbox_lines(inbox) -> list[dict]:
    return [json.loads(line) for f in inbox.glob("*.jsonl") for line in f.read_text().splitlines()]


def test_a_trusted_endpoint_is_used(served, tmp_path):
    _companion, path = served
    c = Client(socket_path=path, inbox=tmp_path / "inbox")
    assert c.track("feature.a", value=1)["ok"] is True
    answer = c.track("feature.b", value=1)
    assert "queued" not in answer and answer["event_id"]
    assert not (tmp_path / "inbox").exists()


@pytest.mark.parametrize("spoil", ["group_writable_dir", "dir_of_another_user",
                                   "socket_of_another_user", "parent_writable_not_sticky",
                                   "parent_of_another_user"])
def test_an_endpoint_others_could_control_is_refused(served, tmp_path, caplog, spoil):
    companion, path = served
    directory = path.parent
    if spoil == "group_writable_dir":
        os.chmod(directory, 0o770)
    elif spoil == "dir_of_another_user":
        os.chown(directory, OTHER, OTHER)
    elif spoil == "socket_of_another_user":
        os.chown(path, OTHER, OTHER)
    elif spoil == "parent_writable_not_sticky":
        os.chmod(directory.parent, 0o777)
    else:
        os.chown(directory.parent, OTHER, OTHER)
    c = Client(socket_path=path, inbox=tmp_path / "inbox")
    answer = c.track("feature.a", value=1)
    assert answer["queued"] == "inbox"
    assert [e["name"] for e in inbox_lines(tmp_path / "inbox")] == ["feature.a"]
    assert stored(companion) == 0
    with pytest.raises(ClientError) as caught:
        c.license()
    assert caught.value.code == "untrusted_endpoint"
    assert str(path) in caught.value.message
    assert any(str(path) in r.getMessage() and "inbox" in r.getMessage()
               for r in caplog.records)


def test_a_sticky_world_writable_parent_is_fine(served, tmp_path):
    _companion, path = served
    os.chmod(path.parent.parent, 0o1777)
    c = Client(socket_path=path, inbox=tmp_path / "inbox")
    answer = c.track("feature.a", value=1)
    assert "queued" not in answer and answer["event_id"]


def test_a_server_of_another_user_is_refused_by_its_peer_uid(tmp_path):
    """The path looks right (our directory, a socket owned by us) but the listening process is
    another user's: only the peer credential tells, and the event goes to the inbox."""
    if not hasattr(socket, "SO_PEERCRED"):
        pytest.skip("the OS does not give the peer's uid")
    theirs = Path(tempfile.mkdtemp(dir="/tmp"))  # the stranger must reach it
    os.chown(theirs, OTHER, OTHER)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the stranger: answers every line "stored"
        try:
            os.setgid(OTHER)
            os.setuid(OTHER)
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(str(theirs / "host.sock"))
            srv.listen(4)
            os.write(ready_w, b"x")
            srv.settimeout(20)
            while True:
                conn, _ = srv.accept()
                conn.settimeout(5)
                data = b""
                while b"\n" not in data:
                    data += conn.recv(4096) or b"\n"
                conn.sendall(b'{"ok":true,"event_id":"x","category":"usage","stored":true}\n')
                conn.close()
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"
        ours = tmp_path / "ours"
        ours.mkdir(mode=0o700)
        os.rename(theirs / "host.sock", ours / "host.sock")
        os.chown(ours / "host.sock", os.getuid(), os.getgid())
        c = Client(socket_path=ours / "host.sock", inbox=tmp_path / "inbox")
        answer = c.track("feature.a", value=1)
        assert answer["queued"] == "inbox"
        assert [e["name"] for e in inbox_lines(tmp_path / "inbox")] == ["feature.a"]
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
        shutil.rmtree(theirs, ignore_errors=True)


def test_too_many_connections_falls_back_to_the_inbox(tmp_path):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1)
    companion = build_companion(load_config(config), tmp_path / "home",
                                identity=lambda: Identity("u" * 32, "a" * 32, "t", "t"),
                                environ={}, license_key=lambda: "")
    path = tmp_path / "run" / "host.sock"
    server = HostServer(CompanionHost(companion), path, Limits(max_connections=2))
    server.start()
    held = []
    try:
        for _ in range(2):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(b'{"op":"hello"}\n')
            assert b'"ok":true' in sock.recv(65536)
            held.append(sock)
        c = Client(socket_path=path, inbox=tmp_path / "inbox")
        answer = c.track("feature.a", value=1)
        assert answer["queued"] == "inbox"
        assert [e["name"] for e in inbox_lines(tmp_path / "inbox")] == ["feature.a"]
    finally:
        for sock in held:
            sock.close()
        server.stop()
        companion.close()
