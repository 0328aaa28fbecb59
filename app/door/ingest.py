"""Events that arrive as JSON lines: the inbox fallback and ``track --jsonl FILE|-``.

Each line is validated by the very parser the socket uses (``parse_line``: an event object as
in the protocol's ``track``; ``"op": "track"`` may be given or left out) and committed through
``CompanionHost.commit``, in groups of ``GROUP`` lines per transaction. A bad line is counted
and reported (inbox: kept aside with its reason), never a crash and never a reason to drop the
good lines around it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from app.door import protocol as hp
from app.door.companion_side import CompanionHost
from app.door.protocol import ErrorReply, TrackItem
from app.model.errors import StorageError
from app.storage.inbox import ClaimedFile, Inbox, inbox_dir

if TYPE_CHECKING:
    from app.core.companion import Companion

log = logging.getLogger(__name__)

GROUP = 500  # lines committed per transaction
MAX_REPORTED = 100  # bad lines described in a report (all are counted)


@dataclass
class IngestReport:
    """What ingesting lines did."""

    accepted: int = 0  # committed (stored or, by consent, discarded)
    stored: int = 0
    rejected: int = 0
    duplicates: int = 0  # accepted, but stored before (the same event id): not stored again
    not_kept: dict[str, int] = field(default_factory=dict)  # reason -> events kept nowhere
    errors: list[dict[str, Any]] = field(default_factory=list)  # line, code, message, field

    def add(self, other: IngestReport) -> None:
        """Sum another report into this one."""
        self.accepted += other.accepted
        self.stored += other.stored
        for reason, n in other.not_kept.items():
            self.not_kept[reason] = self.not_kept.get(reason, 0) + n
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.errors.extend(other.errors[:max(0, MAX_REPORTED - len(self.errors))])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``track --jsonl --json``)."""
        return {"accepted": self.accepted, "stored": self.stored, "rejected": self.rejected,
                "duplicates": self.duplicates, "errors": self.errors, "not_kept": dict(self.not_kept)}


def parse_event_line(line: bytes) -> TrackItem | ErrorReply:
    """One JSON line -> one event, with the socket's own rules."""
    try:
        data = hp.decode_object(line.rstrip(b"\r\n"))
        if isinstance(data, ErrorReply):
            return data
        data.setdefault("op", "track")
        request = hp.parse_object(data)
    except Exception as exc:  # never a crash on a line
        return ErrorReply(hp.INTERNAL, f"internal error reading the line ({type(exc).__name__})")
    if isinstance(request, ErrorReply):
        return request
    if request.op != "track":
        return ErrorReply(hp.INVALID_FIELD, f"op: a line here is one event (track), not "
                          f"{request.op!r}", "op")
    return request.items[0]


def ingest_lines(lines: Iterable[bytes], host: CompanionHost, on_bad: Any = None,
                 group: int = GROUP) -> IngestReport:
    """Validate and commit lines; ``on_bad(number, raw, error_dict)`` for each refused one.

    Args:
        group: lines per transaction.

    Raises:
        StorageError: a group could not be committed (the lines before it are committed).
    """
    numbered = ((number, raw, None) for number, raw in enumerate(lines, start=1))
    return _ingest(numbered, host, on_bad, group)


def _ingest(lines: Iterable[tuple[int, bytes, str | None]], host: CompanionHost, on_bad: Any,
            group: int) -> IngestReport:
    """``ingest_lines`` over (number, raw, id for a line without an ``event_id`` of its own)."""
    report = IngestReport()
    batch: list[tuple[int, TrackItem]] = []

    def refuse(number: int, raw: bytes, error: ErrorReply) -> None:
        report.rejected += 1
        info = {"line": number, "code": error.code, "message": error.message,
                "field": error.field}
        if len(report.errors) < MAX_REPORTED:
            report.errors.append(info)
        if on_bad is not None:
            on_bad(number, raw, info)

    def commit() -> None:
        outcomes = host.commit([item for _n, item in batch])
        for (number, item), outcome in zip(batch, outcomes, strict=True):
            if outcome.error is not None:
                refuse(number, hp.encode({"name": item.name}), outcome.error)
            elif outcome.duplicate:
                report.accepted += 1
                report.duplicates += 1
            else:
                report.accepted += 1
                report.stored += int(outcome.stored)
                if not outcome.stored:
                    report.not_kept[outcome.reason] = report.not_kept.get(outcome.reason, 0) + 1
        batch.clear()

    for number, raw, line_id in lines:
        if not raw.strip():
            continue
        parsed = parse_event_line(raw)
        if isinstance(parsed, ErrorReply):
            refuse(number, raw, parsed)
            continue
        if parsed.event_id is None and line_id is not None:
            parsed = dataclasses.replace(parsed, event_id=line_id)
        batch.append((number, parsed))
        if len(batch) >= group:
            commit()
    if batch:
        commit()
    return report


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of at most ``MAX_LINE`` bytes; a longer one becomes one over-long marker line."""
    while True:
        line = stream.readline(hp.MAX_LINE + 2)
        if not line:
            return
        if len(line) > hp.MAX_LINE + 1 and not line.endswith(b"\n"):
            while True:  # skip the rest of the over-long line
                more = stream.readline(hp.MAX_LINE)
                if not more or more.endswith(b"\n"):
                    break
        yield line.rstrip(b"\r\n")  # an over-long line stays over-long: line_too_long


def ingest_jsonl(source: str | os.PathLike[str] | IO[bytes] | IO[str],
                 host: CompanionHost) -> IngestReport:
    """``track --jsonl FILE|-``: every line an event; bad lines reported, good ones committed.

    Args:
        source: a path, ``"-"`` for standard input, or an open stream (bytes or text).
        host: the companion's host side (``CompanionHost(companion)``).
    """
    if isinstance(source, str | os.PathLike) and str(source) != "-":
        with open(source, "rb") as handle:
            return ingest_lines(_lines(handle), host)
    stream: Any = sys.stdin.buffer if str(source) == "-" else source
    if isinstance(stream, io.TextIOBase):
        stream = getattr(stream, "buffer", None) or io.BytesIO(stream.read().encode("utf-8"))
    return ingest_lines(_lines(stream), host)


def ingest_inbox(inbox: Inbox, host: CompanionHost) -> IngestReport:
    """Take every inbox file: commit its good lines, keep its bad ones aside, then delete it.

    Read a line at a time and committed in groups of ``GROUP``: memory stays bounded whatever
    the file's size. A file whose commit fails stays claimed and is read again next round; the
    lines already committed carry their stable ids (``ClaimedFile.line_id``) and are not
    stored twice.
    """
    total = IngestReport()
    for item in inbox.claim():

        def keep(number: int, raw: bytes, error: dict[str, Any], item: Any = item) -> None:
            inbox.reject(item, number, raw, error)

        unfinished: list[tuple[int, bytes]] = []
        try:
            report = _ingest(_claimed_lines(item, unfinished), host, keep, GROUP)
        except (StorageError, OSError) as exc:
            log.warning("inbox: %s stays for the next round: %s", item.path.name, exc)
            item.close()
            continue
        for number, tail in unfinished:
            report.rejected += 1
            error = {"line": number, "code": "unfinished_line",
                     "message": "the last line has no newline (its host stopped mid-write)",
                     "field": ""}
            if len(report.errors) < MAX_REPORTED:
                report.errors.append(error)
            keep(number, tail, error)
        inbox.done(item)
        total.add(report)
    return total


def _claimed_lines(item: ClaimedFile,
                   unfinished: list[tuple[int, bytes]]) -> Iterator[tuple[int, bytes, str]]:
    """A claimed file's complete lines with their stable ids; a last line without its newline
    goes to ``unfinished``."""
    for line in item.lines(hp.MAX_LINE):
        if line.complete:
            yield line.number, line.raw, item.line_id(line.offset)
        else:
            unfinished.append((line.number, line.raw[:hp.MAX_LINE]))


def take_inbox(companion: Companion) -> IngestReport:
    """The inbox taken without the host door: by ``send`` on the command line, and by a tray
    whose socket could not open (no transport on this OS, an unsafe runtime directory), so
    events a host left there are delivered all the same."""
    inbox = Inbox(inbox_dir(companion.home))
    if not inbox.pending():
        return IngestReport()
    return ingest_inbox(inbox, CompanionHost(companion))
