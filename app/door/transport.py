"""The seam between the host endpoint and the operating system's local transport.

``app.door.server.HostServer`` runs the protocol (reading lines, limits, answer order, group
commit, deadlines, pushes) on one I/O thread and touches the transport only through the small
interface below; two transports fit it:

* ``SocketTransport`` (this module): a Unix domain socket, Linux and macOS, waited on with
  ``selectors``.
* ``app.door.pipe.PipeTransport``: a Windows named pipe, waited on with an I/O completion port.

A transport hands out connection handles (``Handle``) with socket-like ``recv``/``send``: both
raise ``BlockingIOError`` when nothing can be done now, and ``select`` says when to try again.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
from pathlib import Path
from typing import Protocol

from app.door.client import transport_problem
from app.door.endpoint import HostServerError, answers, prepare_socket_dir, same_user

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
ACCEPT = "accept"  # the data ``select`` reports when a client waits to be accepted


class Handle(Protocol):
    """One connected client, non-blocking."""

    def recv(self, size: int, /) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end; ``BlockingIOError``: nothing yet."""

    def send(self, data: bytes | bytearray, /) -> int:
        """Bytes taken from the front of ``data``; ``BlockingIOError``: none now."""

    def close(self) -> None:
        """End the connection."""


class Transport(Protocol):
    """What the endpoint's I/O thread needs from a transport."""

    address: Path | str

    def open(self) -> None:
        """Start listening; ``HostServerError`` when the address is taken or unsafe."""

    def select(self, timeout: float | None) -> list[tuple[object, int]]:
        """Wait at most ``timeout`` seconds (None: until something happens or ``wake``);
        returns ``(data, mask)`` for each ready registration, ``(ACCEPT, READ)`` for a client
        waiting to be accepted. A ``wake`` alone returns an empty list."""

    def register(self, handle: Handle, mask: int, data: object) -> None:
        """Report ``handle`` with ``data`` when ready for ``mask``."""

    def modify(self, handle: Handle, mask: int, data: object) -> None:
        """Change what ``handle`` is reported for."""

    def unregister(self, handle: Handle) -> None:
        """Stop reporting ``handle``."""

    def accept(self) -> Handle | None:
        """The next client (None: none, or one that is not this user's and was refused)."""

    def wake(self) -> None:
        """Make a waiting ``select`` return (any thread)."""

    def close(self) -> None:
        """Stop listening and release everything (the address is free again)."""


class SocketTransport:
    """A Unix domain socket in a private directory (0700, ours), the socket 0600, and on
    Linux the peer's uid must be ours."""

    def __init__(self, path: Path) -> None:
        self.address: Path | str = path
        self.path = path
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def open(self) -> None:
        problem = transport_problem()
        if problem:
            raise HostServerError(problem)
        prepare_socket_dir(self.path)
        if self.path.exists() or self.path.is_symlink():
            if answers(self.path):
                raise HostServerError(f"another companion already serves {self.path}")
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._sel.register(listener, READ, ACCEPT)
        self._sel.register(self._wake_r, READ, None)

    def select(self, timeout: float | None) -> list[tuple[object, int]]:
        ready: list[tuple[object, int]] = []
        for key, mask in self._sel.select(timeout):
            if key.data is None:  # the wake-up pair: drain it
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            else:
                ready.append((key.data, mask))
        return ready

    def register(self, handle: Handle, mask: int, data: object) -> None:
        self._sel.register(handle, mask, data)  # type: ignore[arg-type]  # a socket here

    def modify(self, handle: Handle, mask: int, data: object) -> None:
        self._sel.modify(handle, mask, data)  # type: ignore[arg-type]

    def unregister(self, handle: Handle) -> None:
        self._sel.unregister(handle)  # type: ignore[arg-type]

    def accept(self) -> Handle | None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return None
        if not same_user(sock):
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError, KeyError):
                self._sel.unregister(self._listener)
            self._listener.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
