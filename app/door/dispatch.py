"""Answers host requests against a small interface the tray implements (``HostSide``).

Pure and single-threaded by itself: ``Dispatcher.dispatch`` returns either the answer (a dict,
ready now), a ``Commit`` (events to write; the server's writer thread commits the ``Commit``\\ s
of many connections together with ``run_commits`` and only then answers), or a ``Query`` (an
answer that may wait on the keyring or the state database, run off the socket thread). So the
thread that reads sockets never waits on a disk or a keyring, and nothing here waits on a send
round: ``flush`` only asks for one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.door import protocol as hp
from app.door.protocol import ErrorReply, Request, TrackItem, with_id
from app.model.errors import CompanionError, KeyringUnavailableError, StorageError, ValidationError
from app.storage.drops import NOT_KEPT

log = logging.getLogger(__name__)


class HostUnavailable(CompanionError):
    """The companion cannot do this here (e.g. ``show`` without a tray)."""


@dataclass(frozen=True)
class TrackOutcome:
    """What happened to one event: committed (``event_id``), discarded (not ``stored``), or not."""

    event_id: str = ""
    category: str = ""
    stored: bool = False
    error: ErrorReply | None = None
    duplicate: bool = False  # its event_id was stored before: this copy was not stored again
    # backend -> {"stored": bool, "reason": str | None} (``TrackResult.per_backend``)
    backends: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reason: str = ""  # why it is stored for no backend (``app.storage.drops``' names)

    def to_dict(self) -> dict[str, Any]:
        """The per-event answer."""
        if self.error is not None:
            return self.error.to_dict()
        answer: dict[str, Any] = {"ok": True, "event_id": self.event_id,
                                  "category": self.category, "stored": self.stored,
                                  "backends": {k: dict(v) for k, v in self.backends.items()}}
        if self.duplicate:
            answer["duplicate"] = True
        if not self.stored:
            answer["reason"] = self.reason
            answer["discarded"] = NOT_KEPT.get(self.reason, f"not kept: {self.reason}")
        return answer


class HostSide(Protocol):
    """What the tray (or a test) provides. Every method may be called off the GUI thread."""

    def hello(self) -> dict[str, Any]:
        """``product`` ({id, name, version}) and ``companion`` (its version)."""
        ...

    def commit(self, items: Sequence[TrackItem]) -> list[TrackOutcome]:
        """Validate and commit these events together (one transaction); one outcome each.

        Called on one writer thread only. Raises ``StorageError`` when nothing was committed.
        """
        ...

    def license(self, refresh: bool = False) -> dict[str, Any]:
        """The ``license`` answer (see ``app.door.license.license_answer``)."""
        ...

    def consent(self) -> dict[str, Any]:
        """The ``consent`` answer: effective choice per category, DO_NOT_TRACK."""
        ...

    def show(self, window: str) -> None:
        """Ask the tray to open a window; raises ``HostUnavailable`` without one."""
        ...

    def flush(self) -> None:
        """Ask for a send round now; returns at once (never waits for the round)."""
        ...

    # Optional: ``wake()``, called for the ``wake`` op (another process of this user stored
    # something: look soon, without skipping any backoff); returns at once.


@dataclass
class Session:
    """Per-connection protocol state."""

    watching: bool = False
    hello_done: bool = False


@dataclass(frozen=True)
class Commit:
    """Events to commit; ``finish`` turns their outcomes into the answer."""

    items: tuple[TrackItem, ...]
    finish: Callable[[Sequence[TrackOutcome]], dict[str, Any]]


@dataclass(frozen=True)
class Query:
    """An answer computed off the socket thread (keyring, database)."""

    run: Callable[[], dict[str, Any]]
    request_id: Any = None


Work = dict[str, Any] | Commit | Query


def error_for(exc: BaseException, request_id: Any = None) -> ErrorReply:
    """The answer for an exception from the host side; a bug is logged, never sent in detail."""
    if isinstance(exc, ValidationError):
        return ErrorReply(hp.INVALID_FIELD, str(exc), exc.field, request_id)
    if isinstance(exc, StorageError):
        return ErrorReply(hp.STORAGE, str(exc), request_id=request_id)
    if isinstance(exc, KeyringUnavailableError):
        return ErrorReply(hp.KEYRING, str(exc), request_id=request_id)
    if isinstance(exc, HostUnavailable):
        return ErrorReply(hp.NOT_AVAILABLE, str(exc), request_id=request_id)
    if isinstance(exc, CompanionError):
        return ErrorReply(hp.NOT_AVAILABLE, str(exc), request_id=request_id)
    log.error("host request failed", exc_info=exc)
    return ErrorReply(hp.INTERNAL, f"internal error ({type(exc).__name__}); see the "
                      "companion's log", request_id=request_id)


class Dispatcher:
    """Turns requests into answers or work.

    Args:
        host: the tray's side.
    """

    def __init__(self, host: HostSide) -> None:
        self.host = host

    def dispatch(self, request: Request | ErrorReply, session: Session) -> Work:
        """The answer to one parsed line, or the work that will produce it."""
        if isinstance(request, ErrorReply):
            return request.to_dict()
        rid = request.request_id
        op = request.op
        if op == "hello":
            session.hello_done = True
            return self._query(lambda: {"ok": True, "protocol": hp.PROTOCOL, **self.host.hello(),
                                        "limits": limits()}, rid)
        if op == "track":
            return Commit(request.items, lambda outcomes: with_id(outcomes[0].to_dict(), rid))
        if op == "track_batch":
            return Commit(request.items, lambda outcomes: _batch_answer(request, outcomes))
        if op == "watch":
            session.watching = bool(request.args["on"])
            return with_id({"ok": True, "watching": session.watching,
                            "pushes": ["consent", "license", "drops"]}, rid)
        if op == "license":
            refresh = bool(request.args.get("refresh"))
            return self._query(lambda: {"ok": True, **self.host.license(refresh)}, rid)
        if op == "consent":
            return self._query(lambda: {"ok": True, **self.host.consent()}, rid)
        if op == "show":
            window = request.args["window"]

            def show() -> dict[str, Any]:
                self.host.show(window)
                return {"ok": True, "action": "show", "window": window}

            return self._query(show, rid)
        if op == "flush":

            def flush() -> dict[str, Any]:
                self.host.flush()
                return {"ok": True, "action": "flush", "started": True}

            return self._query(flush, rid)
        if op == "wake":

            def wake() -> dict[str, Any]:
                nudge = getattr(self.host, "wake", None)
                if nudge is not None:
                    nudge()
                return {"ok": True, "action": "wake"}

            return self._query(wake, rid)
        return ErrorReply(hp.UNKNOWN_OP, f"unknown op {op!r}", "op", rid).to_dict()

    @staticmethod
    def _query(run: Callable[[], dict[str, Any]], rid: Any) -> Query:
        return Query(run, rid)


def run_query(query: Query) -> dict[str, Any]:
    """Run a ``Query``; every failure becomes an error answer."""
    try:
        return with_id(query.run(), query.request_id)
    except Exception as exc:
        return error_for(exc, query.request_id).to_dict()


def run_commits(host: HostSide, commits: Sequence[Commit]) -> list[dict[str, Any]]:
    """Commit the events of several requests together; one answer per request, in order.

    When the commit itself fails nothing of the group is stored, and every request in it is
    answered with that error (a host retries; nothing it was told was stored is lost).
    """
    items = [item for commit in commits for item in commit.items]
    try:
        outcomes = host.commit(items) if items else []
        if len(outcomes) != len(items):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(items)} events")
    except Exception as exc:
        failed = TrackOutcome(error=error_for(exc))
        outcomes = [failed] * len(items)
    answers = []
    start = 0
    for commit in commits:
        part = outcomes[start:start + len(commit.items)]
        start += len(commit.items)
        try:
            answers.append(commit.finish(part))
        except Exception as exc:  # a bug in building an answer
            answers.append(error_for(exc).to_dict())
    return answers


def _batch_answer(request: Request, outcomes: Sequence[TrackOutcome]) -> dict[str, Any]:
    """Per-event answers in the order of ``events``; refused events were never stored."""
    total = len(request.items) + len(request.item_errors)
    results: list[dict[str, Any]] = []
    committed = iter(outcomes)
    for index in range(total):
        refused = request.item_errors.get(index)
        results.append(refused.to_dict() if refused else next(committed).to_dict())
    accepted = sum(1 for r in results if r["ok"])
    return with_id({"ok": True, "accepted": accepted, "refused": total - accepted,
                    "results": results}, request.request_id)


def limits() -> dict[str, int]:
    """The limits a host must respect, as ``hello`` states them."""
    return {"max_line": hp.MAX_LINE, "max_batch": hp.MAX_BATCH, "max_depth": hp.MAX_DEPTH}


def push(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A line sent unasked to a watching connection (it has ``push``, never ``ok``)."""
    return {"push": kind, kind: body}


def encode_answer(answer: dict[str, Any]) -> bytes:
    """An answer line; an answer that cannot be encoded (a bug) becomes an ``internal`` error,
    so its slot is always filled and the connection never waits forever."""
    try:
        return hp.encode(answer)
    except (TypeError, ValueError) as exc:
        log.error("host: cannot encode an answer: %s", exc)
        return hp.encode(hp.ErrorReply(hp.INTERNAL, "internal error building the answer",
                                       request_id=answer.get("id")).to_dict())
