"""The state directory's files are the user's alone, and what the disk did wrong is said plainly.

Queued events and the history are the user's data: another local account must not read them.
Modes are set explicitly (``chmod``), never left to the umask, which may be 022 or looser.
SQLite gives ``-wal`` and ``-shm`` the database file's own mode, so a 0600 database keeps its
journal private too.

On Windows there are no mode bits to check (every folder reports 0777, and ``chmod`` only sets
the read-only flag): privacy there is the folder's access control list. The state lives under
the user's own LOCALAPPDATA, whose ACL admits only that user (and SYSTEM and administrators),
and files created inside inherit it, so on Windows nothing is checked or changed here.

When SQLite fails because of the disk (full, read-only, gone) its own words ("disk I/O error",
"unable to open database file") point the user at the database; ``environment_problem`` names
what really happened and what to do about it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# POSIX permission bits mean something here (not on Windows, where the ACL decides).
POSIX_MODES = sys.platform != "win32"

DIR_MODE = 0o700
FILE_MODE = 0o600
LOW_SPACE = 1 << 20  # below this many free bytes a write failure is taken for a full disk


def private_dir(path: Path, *, tighten: bool = True) -> str | None:
    """Create ``path`` 0700 (its parents as the system makes them), or tighten it to 0700 if
    others can read it.

    Args:
        path: the directory.
        tighten: also tighten an existing directory (False: leave that to the one place that
            reports it, the state database's opening).

    Returns:
        A sentence for the user when an existing directory was tightened, else None.

    Raises:
        OSError: it cannot be created (the caller says which directory).
    """
    if not POSIX_MODES:
        path.mkdir(parents=True, exist_ok=True)  # it inherits the user's profile ACL
        return None
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=DIR_MODE)
            os.chmod(path, DIR_MODE)  # the umask may have taken more than group and others
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077 or not tighten:
        return None
    try:
        os.chmod(path, (mode & ~0o077) | DIR_MODE)
    except OSError as exc:
        log.warning("cannot make %s private (mode %o): %s", path, mode, exc.strerror)
        return None
    log.warning("state directory %s was readable by other users (mode %o); now 0700",
                path, mode)
    return (f"The state directory {path} was readable by other users of this computer "
            f"(mode {mode:o}); it was made private (700).")


def private_file(path: Path, *, create: bool = True) -> None:
    """Make ``path`` 0600, creating it empty first when ``create`` and it does not exist.

    Failures are logged, not raised: a file on a filesystem without modes (FAT, some network
    shares) still has to work.
    """
    try:
        if create and not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
            os.close(fd)
        if POSIX_MODES and path.exists() and stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except OSError as exc:
        log.debug("cannot set mode 600 on %s: %s", path, exc.strerror)


def private_db_files(db_path: Path) -> None:
    """The database and, when they exist, its ``-wal`` and ``-shm`` files: 0600."""
    private_file(db_path)
    for suffix in ("-wal", "-shm", "-journal"):
        private_file(db_path.with_name(db_path.name + suffix), create=False)


def is_read_only(path: Path) -> bool:
    """Whether the filesystem holding ``path`` (or its nearest existing parent) is read-only."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            return True
    return False


def free_bytes(path: Path) -> int | None:
    """Free space on the filesystem holding ``path`` (None when it cannot be asked)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    import shutil  # only when a write failed

    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def environment_problem(path: Path, exc: BaseException) -> str | None:
    """What the disk did, in words a user can act on; None when it is not the disk.

    Args:
        path: the database file.
        exc: what SQLite (or the OS) raised.
    """
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    errno_full = isinstance(exc, OSError) and exc.errno == 28  # ENOSPC
    where = path.parent
    if is_read_only(where) or code == sqlite3.SQLITE_READONLY:
        return (f"the disk holding {where} is read-only, so nothing can be queued or sent. "
                "Remount it read-write (or start with --home on a writable disk); "
                "queued events are kept")
    free = free_bytes(where)
    if code == sqlite3.SQLITE_FULL or errno_full or (
        code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN)
        and free is not None and free < LOW_SPACE
    ):
        return (f"the disk holding {where} is full, so nothing can be queued or sent. "
                "Free some space on it, then try again; queued events are kept")
    denied = isinstance(exc, PermissionError)
    if denied or (code == sqlite3.SQLITE_CANTOPEN and not os.access(where, os.W_OK | os.X_OK)):
        return (f"this account may not write to {where}. Give it write access "
                "(or start with --home on a folder it owns); queued events are kept")
    return None
