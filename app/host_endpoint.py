"""Where the host endpoint is, who may reach it, and what ``host-info`` reports.

The address is computed from the product id (``app.client.socket_path``, the one definition a
copied client shares), so a host finds it without asking a running companion.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.client import socket_path
from app.model.errors import CompanionError
from app.service.host_protocol import PROTOCOL
from app.storage.config import VendorConfig
from app.storage.inbox import inbox_dir


class HostServerError(CompanionError):
    """The endpoint cannot be opened (another companion owns it, unsafe directory...)."""


@dataclass
class Limits:
    """What one client can cost; the defaults are documented in docs/host-protocol.md."""

    max_connections: int = 64
    partial_deadline: float = 10.0  # seconds a started line may take to finish
    stall_deadline: float = 30.0  # seconds output may wait for a client that does not read
    max_output: int = 1024 * 1024  # bytes queued to one client before we stop reading it
    watch_interval: float = 2.0  # seconds between checks for consent/license changes
    chore_interval: float = 30.0  # seconds between runs of the writer's chore (the inbox)


def prepare_socket_dir(path: Path) -> None:
    """Create the socket's directory 0700, or refuse one that is not ours alone."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise HostServerError(f"{directory} is not a directory owned by this user; refusing to "
                              "open the host endpoint there")
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)


def answers(path: Path) -> bool:
    """Whether a live process accepts connections on ``path`` (else the file is stale)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def same_user(sock: socket.socket) -> bool:
    """On Linux, the connecting process must run as this user (the 0700 directory is the rule
    everywhere; this is a second check where the OS offers it)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def endpoint_path(config: VendorConfig) -> Path:
    """The socket of this vendor's companion (``[product] id``, else its name)."""
    return socket_path(config.product.id or config.product.name)


def host_info(config: VendorConfig, home: Path) -> dict[str, Any]:
    """What ``license-companion host-info --json`` prints: address, protocol, running, inbox."""
    path = endpoint_path(config)
    return {"address": str(path), "transport": "unix", "protocol": PROTOCOL,
            "running": path.exists() and answers(path), "inbox": str(inbox_dir(home))}
