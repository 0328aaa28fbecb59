"""One tray per user and state directory: a lock file decides who runs, and the running one
listens on a local socket so a second start can ask it to show a window.

The lock is ``app.tray.lockfile.PrivateLock`` on POSIX (created 0600, an ``flock`` the kernel
drops with its process) and a ``QLockFile`` on Windows (Qt treats the lock of a dead process
as stale); a crash never blocks the next start. The socket is ``app.tray.local_socket`` on
POSIX and ``QLocalServer`` on Windows.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QLockFile, QObject, Signal

from app import APP_ID
from app.tray.lockfile import PrivateLock

if TYPE_CHECKING:  # Qt's network module is loaded after the icon is shown
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_NAME = "tray.lock"


def server_name(state_dir: Path) -> str:
    """The local socket name for this user and state directory."""
    import hashlib

    from app.core.identity import os_user_name

    digest = hashlib.sha256(str(state_dir.resolve()).encode("utf-8")).hexdigest()[:16]
    # The account of the real uid, not $USER: the environment may differ between a terminal
    # and the session that starts the tray, and two names would mean two "single" instances.
    user = re.sub(r"[^A-Za-z0-9._-]", "_", os_user_name()[0])
    return f"{APP_ID}-{user}-{digest}"


class SingleInstance(QObject):
    """Decides whether this process is the one tray for a state directory.

    Args:
        state_dir: the state directory (lock file, socket name).

    Signals:
        messageReceived(str): another start asked for something (``show``, ``show consent``...).
    """

    messageReceived = Signal(str)

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self._name = ""
        self.lock: PrivateLock | QLockFile
        if os.name == "posix":
            self.lock = PrivateLock(state_dir / LOCK_NAME)
        else:
            self.lock = QLockFile(str(state_dir / LOCK_NAME))
            # 0: never stale by age; a lock whose process is gone is still detected as stale.
            self.lock.setStaleLockTime(0)
        self.server: QLocalServer | None = None
        self.unix_server: Any = None  # app.tray.local_socket.UnixLineServer (POSIX)

    @property
    def name(self) -> str:
        """The local socket's name (``server_name``), worked out when first needed."""
        if not self._name:
            self._name = server_name(self.state_dir)
        return self._name

    def acquire(self) -> bool:
        """Take the lock; False when another live instance holds it. The lock file holds our
        pid and host name: private (0600 from its creation on POSIX), like every file of the
        state directory."""
        return bool(self.lock.tryLock(200))

    def holder_pid(self) -> int | None:
        """The pid of the instance holding the lock, if known."""
        info = self.lock.getLockInfo()  # PySide6: (pid, hostname, appname); pid 0 if unknown
        pid = info[0] if isinstance(info, tuple) and info else 0
        return int(pid) if pid else None

    def listen(self) -> None:
        """Accept messages from later starts (we hold the lock, so a leftover socket is stale)."""
        if os.name == "posix":
            from app.tray.local_socket import UnixLineServer, socket_path

            try:
                self.unix_server = UnixLineServer(socket_path(self.name), self._on_line, self)
            except OSError as exc:
                log.warning("cannot listen on %s: %s", self.name, exc.strerror or exc)
            return
        from PySide6.QtNetwork import QLocalServer

        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("cannot listen on %s: %s", self.name, server.errorString())
            return
        server.newConnection.connect(self._on_connection)
        self.server = server

    def _on_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._on_ready_read(s))

    def _on_ready_read(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            return
        from app.tray.qt_emit import emit

        message = bytes(sock.readLine().data()).decode("utf-8", "replace").strip()
        sock.write(b"ok\n")
        sock.flush()
        sock.disconnectFromServer()
        emit(self.messageReceived, message)

    def _on_line(self, message: str) -> None:
        from app.tray.qt_emit import emit

        emit(self.messageReceived, message)

    def send(self, message: str, timeout_ms: int = 3000) -> bool:
        """Deliver a message to the running instance; True when it acknowledged."""
        if os.name == "posix":
            from app.tray.local_socket import send_line, socket_path

            return send_line(socket_path(self.name), message, timeout_ms / 1000)
        from PySide6.QtNetwork import QLocalSocket

        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(message.encode("utf-8") + b"\n")
        sock.flush()
        if not sock.waitForReadyRead(timeout_ms):
            return False
        answer = bytes(sock.readAll().data()).strip()
        sock.disconnectFromServer()
        return answer == b"ok"

    def release(self) -> None:
        """Stop listening and unlock."""
        if self.unix_server is not None:
            self.unix_server.close()
            self.unix_server = None
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()
