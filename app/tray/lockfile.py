"""The tray's single-instance lock on POSIX: a file created 0600 and held with ``flock``.

Why not ``QLockFile`` here: it creates the file with the process umask (0644 usually) and
could only be tightened after its pid and host name were written. This one is opened with
``os.open(..., 0o600)``, so it is private from its first byte, and an existing file (a crashed
or older tray's) is set to 0600 before anything is written. The kernel lets go of an
``flock`` when its process dies, so a crash never blocks the next start; ``QLockFile`` takes
the same ``flock`` on its file, so an older tray still running is seen too.

The file holds ``pid``, the application and the host name, one per line, as ``QLockFile``
writes them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from app import APP_ID


class PrivateLock:
    """What ``app.tray.instance.SingleInstance`` needs of a lock, named as ``QLockFile``'s.

    Args:
        path: the lock file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def tryLock(self, timeout_ms: int = 0) -> bool:
        """Take the lock, waiting at most ``timeout_ms``; False when another process holds it
        (or the file cannot be opened as ours: a symlink, another user's file)."""
        if self._fd is not None:
            return True
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError:
            return False
        try:
            import fcntl

            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)  # a file left by an older tray
            deadline = time.monotonic() + timeout_ms / 1000
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        return False
                    time.sleep(0.02)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n{APP_ID}\n{socket.gethostname()}\n".encode())
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        self._fd = fd
        return True

    def getLockInfo(self) -> tuple[int, str, str]:
        """(pid, host name, application) of the holder; pid 0 when unknown."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return 0, "", ""
        try:
            lines = os.read(fd, 4096).decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        finally:
            os.close(fd)
        try:
            pid = int(lines[0]) if lines else 0
        except ValueError:
            pid = 0
        return pid, lines[2] if len(lines) > 2 else "", lines[1] if len(lines) > 1 else ""

    def unlock(self) -> None:
        """Let go (the file stays, emptied: the next start reuses it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            os.close(fd)
