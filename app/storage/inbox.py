"""The inbox: where hosts leave events when no companion answers, until the companion takes them.

Layout, in the state directory (0700)::

    inbox/<pid>-<random>.jsonl            one file per host process, appended to
    inbox/<name>.<claim>.claimed          taken by the companion, being ingested
    inbox/rejected/<name>.<claim>.rejected.jsonl  lines of that claim that were not valid
                                          events, with the reason
    inbox/rejected/.removed               how many rejected files were removed by the cap

A host appends whole lines (one event object each, as in the protocol's ``track``) with
``O_APPEND``, holding an exclusive ``flock`` while it writes and fsyncs, and first checks that
its file name still points at the file it opened (``app.door.client.append_to_inbox``).

Why rename-to-claim and not "read up to the last newline and remember the offset": the offset
would have to be committed together with the events or a crash would ingest lines twice or
never. A claim makes the file the companion's alone: rename it (new host writes create a new
file), take its lock (waits out a write in progress; a writer that opened it before the rename
sees the name no longer matches and opens a new file), then read it line by line (a file of
any size costs one line of memory at a time). Its events are committed in groups and only then
is the file deleted; a crash before the delete leaves the ``.claimed`` file, which the next
round ingests again, and no line is stored twice: every line has a stable id (``line_id``: the
host's ``event_id``, or one made from the host's file name and the line's byte offset, which a
claim does not change), kept like any host id (``app.storage.event_ids``), and its bad lines
are written again from the start to the same rejected file (named after the claim), so they
are not kept twice either. On Windows a file a host has open cannot be renamed, so the claim
simply waits for the next round.

Files the companion does not read (a symlink, another user's file: a file it would ingest as
this user's events) are left where they are, logged and counted for ``status``
(``Inbox.left_alone``).

A last line without its newline is the remains of a host killed mid-write: it was never
acknowledged and is kept aside as a bad line like any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.model.text import printable
from app.storage.files import private_dir, private_file
from app.storage.rejected_cap import cap_folder

log = logging.getLogger(__name__)

INBOX_DIR = "inbox"
REJECTED_DIR = "rejected"
SUFFIX = ".jsonl"
CLAIMED = ".claimed"
LOCK_WAIT = 2.0  # seconds to wait for a host's write in progress
MAX_KEPT_TEXT = 4096  # characters of a bad line kept for the user to see
REMOVED_COUNT = ".removed"  # in rejected/: files removed by the cap so far, for ``status``


def inbox_dir(state_dir: Path) -> Path:
    """The inbox of a state directory (not created here)."""
    return state_dir / INBOX_DIR


@dataclass(frozen=True)
class InboxLine:
    """One line of a claimed file: ``raw`` without its newline; ``complete`` False for a last
    line without one (a host stopped mid-write)."""

    number: int
    offset: int
    raw: bytes
    complete: bool


@dataclass
class ClaimedFile:
    """A file taken from the inbox, open and locked until ``Inbox.done`` or the next claim."""

    path: Path
    handle: BinaryIO
    rejected_started: bool = False  # this reading has written its rejected file afresh

    @property
    def origin(self) -> str:
        """The host's file name it came from."""
        return self.path.name.split(".", 1)[0] + SUFFIX

    def line_id(self, offset: int) -> str:
        """A stable id for the line at ``offset`` of this host file, the same on every claim."""
        digest = hashlib.sha256(f"{self.origin}\0{offset}".encode("utf-8", "backslashreplace"))
        return "inbox-" + digest.hexdigest()[:40]

    def lines(self, max_line: int) -> Iterator[InboxLine]:
        """The lines one at a time, each at most ``max_line`` bytes held (a longer line is
        skipped to its newline and given with its first ``max_line + 1`` bytes, so the door's
        line limit refuses it)."""
        self.handle.seek(0)
        offset = 0
        number = 0
        while True:
            line = self.handle.readline(max_line + 2)
            if not line:
                return
            number += 1
            start = offset
            offset += len(line)
            too_long = len(line) > max_line + 1 and not line.endswith(b"\n")
            while too_long and not line.endswith(b"\n"):
                more = self.handle.readline(max_line)
                if not more:
                    break
                offset += len(more)
                line = line[:max_line + 1] + more[-1:]
            complete = line.endswith(b"\n")
            yield InboxLine(number, start, line.rstrip(b"\r\n") if complete else line,
                            complete)

    def close(self) -> None:
        """Let go of the file (and its lock)."""
        with contextlib.suppress(OSError):
            self.handle.close()


def _ours(info: os.stat_result) -> bool:
    """A regular file (not a symlink) owned by this user (where the OS has owners)."""
    return _why_not_ours(info) is None


def _why_not_ours(info: os.stat_result) -> str | None:
    """None for a regular file of this user; else ``not_regular`` (a symlink, a fifo...) or
    ``foreign_owner`` (another user's file)."""
    if not stat.S_ISREG(info.st_mode):
        return "not_regular"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return "foreign_owner"
    return None


def _lock(fd: int, wait: float) -> bool:
    try:
        import fcntl
    except ImportError:
        return True
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


class Inbox:
    """The companion's side of the inbox.

    Args:
        path: the inbox directory (``inbox_dir(state_dir)``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_removed = 0  # files of rejected/ removed by this process (see removed())

    def ensure(self) -> None:
        """Create the directory (0700, tightened if looser) so hosts can write even before the
        first claim."""
        private_dir(self.path)

    def pending(self) -> list[Path]:
        """Host files and unfinished claims, oldest first: regular files of this user only (a
        symlink or another user's file is left where it is, never read)."""
        if not self.path.is_dir():
            return []
        found: list[tuple[float, str, Path]] = []
        for path in self.path.iterdir():
            if not (path.name.endswith(SUFFIX) or path.name.endswith(CLAIMED)):
                continue
            try:
                info = path.lstat()
            except OSError:
                continue
            if not _ours(info):
                log.warning("inbox: %s is not a regular file of this user; not read",
                            printable(path.name))
                continue
            found.append((info.st_mtime, path.name, path))
        return [path for _mtime, _name, path in sorted(found)]

    def left_alone(self) -> dict[str, int]:
        """Inbox files never read, by why: ``foreign_owner`` (owned by another user) and
        ``not_regular`` (a symlink or other non-file); for ``status``."""
        counts = {"foreign_owner": 0, "not_regular": 0}
        with contextlib.suppress(OSError):
            for path in self.path.iterdir():
                if path.name.endswith(SUFFIX) or path.name.endswith(CLAIMED):
                    with contextlib.suppress(OSError):
                        why = _why_not_ours(path.lstat())
                        if why is not None:
                            counts[why] += 1
        return counts

    def claim(self) -> Iterator[ClaimedFile]:
        """Take each pending file, one at a time; call ``done`` after committing its events
        (a file left without ``done`` is let go of and taken again next round)."""
        for path in self.pending():
            claimed = path if path.name.endswith(CLAIMED) else self._rename(path)
            if claimed is None:
                continue
            item = self._open(claimed)
            if item is None:
                continue
            try:
                yield item
            finally:
                item.close()

    def _rename(self, path: Path) -> Path | None:
        target = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}{CLAIMED}")
        try:
            os.rename(path, target)
        except OSError:  # gone, or (Windows) still open by its host: next round
            return None
        return target

    def _open(self, path: Path) -> ClaimedFile | None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        if not _ours(os.fstat(fd)) or not _lock(fd, LOCK_WAIT):
            os.close(fd)  # not ours, or a host stuck mid-write: its lines wait for next round
            return None
        return ClaimedFile(path, os.fdopen(fd, "rb"))

    def reject(self, item: ClaimedFile, number: int, raw: bytes, error: dict[str, str]) -> None:
        """Keep a bad line aside with the reason (never fails the ingestion)."""
        folder = self.path / REJECTED_DIR
        record = {"file": item.origin, "line": number, "error": error,
                  "text": raw.decode("utf-8", "backslashreplace")[:MAX_KEPT_TEXT],
                  "at": time.time()}
        try:
            private_dir(folder)
            # Named after the claim, and started afresh by each reading of it: a claim read
            # again after a crash writes the same records again, in place of the first ones.
            target = folder / f"{item.path.name[:-len(CLAIMED)]}.rejected{SUFFIX}"
            private_file(target)
            mode = "a" if item.rejected_started else "w"
            # backslashreplace: a record is kept even if a reason holds a lone surrogate
            with open(target, mode, encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            item.rejected_started = True
            removed = cap_folder(folder, f"*{SUFFIX}")
            if removed:
                self.rejected_removed += removed
                self._count_removed(folder, removed)
        except OSError as exc:
            log.warning("inbox: cannot keep a bad line aside: %s", exc.strerror)

    def done(self, item: ClaimedFile) -> None:
        """The file's events are committed: remove it."""
        item.close()
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()

    def _count_removed(self, folder: Path, removed: int) -> None:
        """Add to ``rejected/.removed`` (under its lock: a command line ``send`` may take the
        inbox while the tray does)."""
        fd = os.open(folder / REMOVED_COUNT, os.O_RDWR | os.O_CREAT
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            _lock(fd, LOCK_WAIT)
            text = os.read(fd, 64).decode("ascii", "replace").strip()
            total = (int(text) if text.isdigit() else 0) + removed
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{total}\n".encode("ascii"))
        finally:
            os.close(fd)

    def removed(self) -> int:
        """Files of rejected/ removed to keep it within its cap, by every process so far."""
        try:
            text = (self.path / REJECTED_DIR / REMOVED_COUNT).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return 0
        return int(text) if text.isdigit() else 0

    def rejected_count(self) -> int:
        """Bad lines kept aside so far (for ``status``)."""
        folder = self.path / REJECTED_DIR
        if not folder.is_dir():
            return 0
        total = 0
        for path in folder.glob(f"*{SUFFIX}"):
            with contextlib.suppress(OSError), open(path, "rb") as handle:
                total += sum(1 for _ in handle)
        return total
