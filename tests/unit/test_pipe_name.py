"""Where a Windows host finds its companion, computed here on any system: the pipe's name
and what ``host-info`` prints on Windows (the platform and the user's SID given)."""

from __future__ import annotations

from pathlib import Path

from app.door.client import SOCKET_ENV, endpoint_address, pipe_name
from app.door.endpoint import host_info
from app.door.server import transport_for
from app.door.transport import SocketTransport
from app.storage.config import load_config

SID = "S-1-5-21-1004336348-1177238915-682003330-1001"


def test_the_pipe_is_per_product_and_per_user():
    name = pipe_name("Acme Pro!", environ={}, user_sid=SID)
    assert name == f"\\\\.\\pipe\\license-companion-acme-pro-{SID}"
    assert pipe_name("other", environ={}, user_sid=SID) != name
    assert pipe_name("Acme Pro!", environ={}, user_sid=SID.replace("1001", "1002")) != name


def test_the_override_names_the_pipe_as_it_names_the_socket():
    assert pipe_name("x", environ={SOCKET_ENV: r"\\.\pipe\mine"}, user_sid=SID) == \
        r"\\.\pipe\mine"


def test_the_address_follows_the_platform():
    assert endpoint_address("acme", {}, platform="win32", user_sid=SID) == \
        pipe_name("acme", {}, SID)
    unix = endpoint_address("acme", {"XDG_RUNTIME_DIR": "/run/user/7"}, platform="linux")
    assert unix == "/run/user/7/license-companion-acme/host.sock"


def test_a_pipe_name_gets_the_pipe_transport_and_a_path_the_socket(tmp_path):
    assert isinstance(transport_for(tmp_path / "host.sock"), SocketTransport)
    pipe = transport_for(pipe_name("acme", {}, SID))
    assert type(pipe).__name__ == "PipeTransport" and pipe.address == pipe_name("acme", {}, SID)


def test_host_info_on_windows(tmp_path, monkeypatch):
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    config = tmp_path / "c.toml"
    config.write_text('[product]\nname = "Acme"\nid = "acme-pro"\nversion = "1"\n')
    info = host_info(load_config(config), tmp_path / "home", platform="win32", user_sid=SID)
    assert info["transport"] == "pipe" and "problem" not in info
    assert info["address"] == f"\\\\.\\pipe\\license-companion-acme-pro-{SID}"
    assert info["running"] is False  # not asked from another system
    assert info["inbox"] == str(Path(tmp_path / "home" / "inbox"))
    here = host_info(load_config(config), tmp_path / "home")
    assert here["transport"] == "unix"
