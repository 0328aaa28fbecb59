"""Where the host endpoint is, who may reach it, and what ``host-info`` reports.

The address is computed from the product id (``app.door.client.socket_path``, on Windows
``app.door.client.pipe_name``: the one definition a copied client shares), so a host finds it
without asking a running companion.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.door.client import endpoint_address, product_slug, socket_path, transport_problem
from app.model.errors import CompanionError

if TYPE_CHECKING:  # ``track`` asks only for ``endpoint_path``: it imports none of these
    import socket

    from app.storage.config import VendorConfig


class HostServerError(CompanionError):
    """The endpoint cannot be opened (another companion owns it, unsafe directory...)."""


class Limits:
    """What one client can cost; the defaults are documented in docs/host-protocol.md.

    Written out rather than a dataclass: ``track`` imports this module (for the socket's
    address), and a dataclass compiles its methods at import.

    Attributes:
        max_connections: clients served at once.
        partial_deadline: seconds a started line may take to finish.
        stall_deadline: seconds output may wait for a client that does not read.
        max_output: bytes queued to one client before we stop reading it.
        idle_timeout: seconds a connection may sit with nothing sent, nothing pending and no
            ``watch`` before it is closed, so idle clients cannot hold every slot.
        watch_interval: checks for consent/license changes run when the tray says something
            changed (notify), on a host's "wake", when a host starts watching, and when any
            host request arrives, at most once per this many seconds (a change made in
            another process, e.g. by the CLI). Nothing polls: an idle endpoint wakes up for
            nothing.
    """

    def __init__(self, max_connections: int = 64, partial_deadline: float = 10.0,
                 stall_deadline: float = 30.0, max_output: int = 1024 * 1024,
                 watch_interval: float = 1.0, idle_timeout: float = 300.0) -> None:
        self.max_connections = max_connections
        self.partial_deadline = partial_deadline
        self.stall_deadline = stall_deadline
        self.max_output = max_output
        self.watch_interval = watch_interval
        self.idle_timeout = idle_timeout

    def __repr__(self) -> str:
        return (f"Limits(max_connections={self.max_connections}, partial_deadline="
                f"{self.partial_deadline}, stall_deadline={self.stall_deadline}, max_output="
                f"{self.max_output}, watch_interval={self.watch_interval}, idle_timeout="
                f"{self.idle_timeout})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass without frozen


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
    import socket

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
    import socket
    import struct

    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return False
    uid: int = struct.unpack("3i", creds)[1]
    return uid == os.getuid()


def endpoint_path(config: VendorConfig) -> Path | str:
    """The socket of this vendor's companion (``[product] id``, else its name); on Windows
    the pipe's name."""
    product = config.product.id or config.product.name
    if sys.platform == "win32":
        return endpoint_address(product)
    return socket_path(product)


def host_info(config: VendorConfig, home: Path, platform: str | None = None,
              user_sid: str | None = None) -> dict[str, Any]:
    """What ``license-companion host-info --json`` prints: address, protocol, running, inbox.

    ``transport`` is ``unix``, ``pipe`` (Windows: ``address`` is ``\\\\.\\pipe\\...``), or
    ``unavailable`` where no endpoint can be served, with ``problem`` saying so; ``running``
    is whether a live companion answers there. ``platform`` and ``user_sid`` default to this
    system's (given, they show what another system would print).
    """
    from app.door.protocol import PROTOCOL
    from app.storage.inbox import inbox_dir

    product = config.product.id or config.product.name
    platform = platform or sys.platform
    address = endpoint_address(product, platform=platform, user_sid=user_sid)
    problem = transport_problem() if platform == sys.platform else ""
    if problem:
        transport, running = "unavailable", False
    elif platform == "win32":
        transport = "pipe"
        running = sys.platform == "win32" and pipe_answers(address)
    else:
        transport = "unix"
        running = platform == sys.platform and Path(address).exists() and \
            answers(Path(address))
    info: dict[str, Any] = {"address": address, "transport": transport, "protocol": PROTOCOL,
                            "running": running, "inbox": str(inbox_dir(home)),
                            "product": product, "product_slug": product_slug(product)}
    if problem:
        info["problem"] = problem
    return info


def pipe_answers(name: str) -> bool:
    """Whether this user's companion serves the pipe ``name`` (Windows)."""
    from app.door.client import ClientError, win_connect

    try:
        win_connect(name, 0.5).close()
    except (ClientError, OSError):
        return False
    return True
