"""Writing a file of the user's data elsewhere than the state directory: 0600 from its first
byte, never over an existing file unless asked.

Without ``replace`` the file is created with ``O_EXCL``, so an existing file (or a link planted
in its place) is refused rather than followed. With ``replace`` the text goes to a private file
beside the target first and is renamed over it, so the old file is either kept whole or replaced
whole, and its old mode never applies to the new text.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from app.model.errors import CompanionError
from app.storage.files import FILE_MODE

_EXCL = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class ExportExistsError(CompanionError):
    """The export's file exists and overwriting it was not asked for."""

    exit_code = 2

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; choose another name or add --force to replace it")


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to ``path``, mode 0600 (on Windows the folder's access control applies).

    Raises:
        ExportExistsError: ``path`` exists and not ``replace``.
        CompanionError: the file cannot be written (the OS's reason, with the path).
    """
    target = path if not replace else path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(target, _EXCL, FILE_MODE)
    except FileExistsError:
        if not replace:
            raise ExportExistsError(path) from None
        target.unlink()  # a leftover of an earlier run of this process id
        fd = os.open(target, _EXCL, FILE_MODE)
    except OSError as exc:
        raise CompanionError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(target, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise CompanionError(f"cannot write {path}: {exc.strerror}") from None
