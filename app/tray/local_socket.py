"""The single-instance socket on POSIX: a Unix socket served from Qt's event loop, no QtNetwork.

Why not ``QLocalServer``: Qt's network module (its libraries and bindings) is a large part of an
idle tray's memory, and this socket carries one line per second start. The socket is where
``QLocalServer`` kept it (Qt's temporary directory, ``$TMPDIR`` or ``/tmp``, under the same
name), readable and writable by the user alone (bound inside a private directory, then moved
into place), so nothing about it changed for the user. Windows keeps ``QLocalServer`` (named
pipes).

The protocol: the client writes one line (``show``, ``show consent``...), the server answers
``ok`` and closes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QDir, QObject, QSocketNotifier

log = logging.getLogger(__name__)

MAX_LINE = 4096  # a message is a window's name; anything longer is not ours


def socket_path(name: str) -> Path:
    """Where the socket of ``name`` lives (Qt's temporary directory, as ``QLocalServer``)."""
    return Path(QDir.tempPath()) / name


class UnixLineServer(QObject):
    """Accepts connections on a Unix socket and hands each one's line to ``on_line``.

    Args:
        path: the socket file (a stale one is replaced: the caller holds the instance lock).
        on_line: called on the GUI thread with each message, after ``ok`` was answered.
        parent: Qt parent.

    Raises:
        OSError: the socket cannot be made.
    """

    def __init__(self, path: Path, on_line: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._on_line = on_line
        self._clients: dict[int, tuple[socket.socket, QSocketNotifier, bytearray]] = {}
        self._sock = _bind_private(path)
        self._sock.setblocking(False)
        self._sock.listen(8)
        self._notifier = QSocketNotifier(self._sock.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("single-instance socket: %s", exc)
                return
            conn.setblocking(False)
            fd = conn.fileno()
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
            self._clients[fd] = (conn, notifier, bytearray())
            notifier.activated.connect(lambda *_args, fd=fd: self._read(fd))

    def _read(self, fd: int) -> None:
        entry = self._clients.get(fd)
        if entry is None:
            return
        conn, _notifier, buffer = entry
        try:
            chunk = conn.recv(MAX_LINE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        buffer += chunk
        if b"\n" in buffer:
            line = bytes(buffer.split(b"\n", 1)[0]).decode("utf-8", "replace").strip()
            with contextlib.suppress(OSError):
                conn.send(b"ok\n")
            self._drop(fd)
            self._on_line(line)
        elif not chunk or len(buffer) > MAX_LINE:  # closed early, or not one of ours
            self._drop(fd)

    def _drop(self, fd: int) -> None:
        conn, notifier, _buffer = self._clients.pop(fd)
        notifier.setEnabled(False)
        notifier.setParent(None)
        conn.close()

    def close(self) -> None:
        """Stop listening, end every connection and remove the socket file."""
        for fd in list(self._clients):
            self._drop(fd)
        self._notifier.setEnabled(False)
        self._sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _bind_private(path: Path) -> socket.socket:
    """A listening-ready socket at ``path``, mode 0600 before anyone else can reach it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale: the instance lock says no live server owns it
    private = Path(tempfile.mkdtemp(prefix=".lc-", dir=path.parent))  # mode 0700
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        inner = private / "s"
        sock.bind(str(inner))
        os.chmod(inner, 0o600)
        os.rename(inner, path)
        # The socket keeps its inode; Linux reports the bound name, which is gone, but
        # connections to ``path`` reach it.
    except OSError:
        sock.close()
        raise
    finally:
        with contextlib.suppress(OSError):
            for leftover in private.iterdir():
                leftover.unlink()
            private.rmdir()
    return sock


def send_line(path: Path, message: str, timeout: float) -> bool:
    """Write ``message`` to the server at ``path``; True when it answered ``ok`` in time."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(message.encode("utf-8") + b"\n")
            answer = b""
            while b"\n" not in answer and len(answer) < 64:
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    return answer.strip() == b"ok"
