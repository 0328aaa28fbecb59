"""The copyable client's path logic agrees with the companion's; inbox appends survive claims."""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path

import pytest

import app.door.client as client
from app.storage import paths
from app.storage.inbox import Inbox


def test_client_imports_only_the_standard_library():
    tree = ast.parse(Path(client.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"__future__", "json", "os", "re", "socket", "sys", "tempfile",
                     "threading", "time", "uuid", "collections", "pathlib", "typing", "fcntl",
                     "logging", "stat", "struct", "atexit", "weakref", "select",
                     "ctypes", "_winapi"}  # the last two: Windows, the named pipe


@pytest.mark.parametrize("env", [{}, {"XDG_DATA_HOME": "/x/data"}, {"XDG_DATA_HOME": "rel"}])
def test_state_dir_is_the_companions(monkeypatch, tmp_path, env):
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert client.state_dir() == paths.state_dir()


def test_state_dir_follows_the_home_override(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "h"))
    assert client.state_dir() == paths.state_dir() == (tmp_path / "h").resolve()


@pytest.mark.skipif(sys.platform == "win32", reason="the Unix socket path is POSIX only; on Windows "
                    "hosts use the pipe name (tests/windows/test_c_host.py derives it from the "
                    "product slug and the user SID, tests/windows/test_pipe_door.py serves it)")
def test_socket_path_is_derived_from_the_product():
    env = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    assert client.socket_path("Acme Pro 7", env) == \
        Path("/run/user/1000/license-companion-acme-pro-7/host.sock")
    assert client.socket_path("x", {client.SOCKET_ENV: "/s.sock"}) == Path("/s.sock")
    fallback = client.socket_path("x", {})
    assert fallback.parent.parent.name.startswith("license-companion-")


def test_a_client_needs_a_product(monkeypatch):
    monkeypatch.delenv(client.PRODUCT_ENV, raising=False)
    monkeypatch.delenv(client.SOCKET_ENV, raising=False)
    with pytest.raises(client.ClientError) as exc:
        client.Client()
    assert exc.value.field == "product"


def test_track_needs_exactly_one_value(tmp_path):
    c = client.Client(socket_path=tmp_path / "none.sock", inbox=tmp_path / "in")
    with pytest.raises(client.ClientError):
        c.track("App.a")
    with pytest.raises(client.ClientError):
        c.track("App.a", 1, text="x")
    assert not (tmp_path / "in").exists()


def test_appends_racing_claims_lose_nothing(tmp_path):
    inbox = Inbox(tmp_path / "inbox")
    seen: list[bytes] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        for i in range(200):
            client.append_to_inbox(inbox.path, [f'{{"n":{n},"i":{i}}}\n'.encode()], f"{n}.jsonl")

    def claimer() -> None:
        while not stop.is_set():
            for item in inbox.claim():
                lines = list(item.lines(1 << 20))
                assert all(line.complete for line in lines)
                seen.extend(line.raw for line in lines if line.raw)
                inbox.done(item)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    reader = threading.Thread(target=claimer)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    for item in inbox.claim():
        seen.extend(line.raw for line in item.lines(1 << 20) if line.raw)
        inbox.done(item)
    assert len(seen) == 800 and len(set(seen)) == 800
