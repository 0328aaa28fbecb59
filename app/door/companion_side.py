"""``HostSide`` over a ``Companion``: what the host server asks, answered by the product.

The tray builds one ``CompanionHost`` with two callables of its own, ``show(window)`` and
``flush()``, which must return at once (post to the GUI thread / the send worker) because they
are called from the host server's threads. Everything else uses the Companion's public methods:
``track_many`` (one transaction per group), ``consent.states``/``consent.do_not_track``,
``why_not_sending`` and, for ``license``, the license service's ``cached_status``/``verify``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from app import __version__
from app.core.companion import Companion
from app.door import protocol as hp
from app.door.coalesce import Coalesced
from app.door.dispatch import HostUnavailable, TrackOutcome
from app.door.license import install_recorder, license_answer
from app.door.protocol import ErrorReply, TrackItem
from app.model.errors import ValidationError
from app.storage.checkpoint import Checkpointer

log = logging.getLogger(__name__)

COMMIT_WAKE_EVERY = 0.2  # seconds: the sender is woken at most this often by host commits
WAKE_EVERY = 1.0  # seconds: hosts' ``wake``/``flush`` start at most one sender pass this often
REFRESH_EVERY = 60.0  # seconds: at most one license server check for hosts' ``refresh: true``
_monotonic = time.monotonic  # the interval's clock (tests hold it still)


class CompanionHost:
    """Answers host requests with a ``Companion``.

    Args:
        companion: the product (its database gets one connection per calling thread).
        show: opens "license", "consent" or "history" on the GUI thread; None: no windows
            here (``show`` answers ``not_available``).
        flush: starts a send round without waiting for it; None: ``flush`` answers
            ``not_available``.
        wake: asks for an ordinary send round soon (backoff respected) because another
            process stored events; returns at once. None: ``wake`` only takes the inbox.
        clock: seconds since the epoch (the license grace compares against it).
    """

    def __init__(
        self,
        companion: Companion,
        *,
        show: Callable[[str], None] | None = None,
        flush: Callable[[], None] | None = None,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.companion = companion
        self._show = show
        self._flush = flush
        self._wake = wake
        self.clock = clock
        self.wakes = Coalesced(self._nudge, WAKE_EVERY)  # a flood of ``wake`` is one pass
        self.flushes = Coalesced(self._start_round, WAKE_EVERY)  # ... and of ``flush`` too
        self._wake_lock = threading.Lock()
        self._woken_at = -COMMIT_WAKE_EVERY  # monotonic time of the last wake after a commit
        self._wake_pending = False  # a wake is due at the end of the interval
        self._checkpointer: Checkpointer | None = None
        self._refresh_lock = threading.Lock()
        self._refreshed_at: float | None = None  # monotonic time of the last server check
        if companion.license is not None:
            install_recorder(companion.license)

    @property
    def grace_days(self) -> float:
        """``[license] offline_grace_days`` of the vendor configuration."""
        return self.companion.config.license.offline_grace_days

    def hello(self) -> dict[str, Any]:
        product = self.companion.config.product
        return {"product": {"id": product.id, "name": product.name, "version": product.version},
                "companion": __version__}

    def commit(self, items: Sequence[TrackItem]) -> list[TrackOutcome]:
        # One transaction for the whole group (``Companion.track_many``): one fsync, the
        # consent read once per category, one insert for every row; each event still refused
        # or stored alone.
        results = self.companion.track_many(
            {"name": item.name, "kind": item.kind, "value": item.value,
             "payload": item.payload or None, "timestamp": item.timestamp,
             "session_id": item.session, "event_id": item.event_id}
            for item in items
        )
        outcomes: list[TrackOutcome] = []
        for result in results:
            if isinstance(result, ValidationError):
                field = {"session_id": "session"}.get(result.field, result.field)
                outcomes.append(TrackOutcome(error=ErrorReply(hp.INVALID_FIELD, str(result),
                                                              field)))
            else:
                outcomes.append(TrackOutcome(result.event.id, result.category, result.stored,
                                             duplicate=result.duplicate,
                                             backends=result.per_backend(),
                                             reason=result.reason))
        if any(o.stored for o in outcomes if o.error is None):
            self._committed()  # the tray's sender, idle without a timer, sends them soon
        return outcomes

    def _committed(self) -> None:
        """Wake the sender after a commit, at most once per ``COMMIT_WAKE_EVERY``.

        Why not after every group: each wake makes the tray's worker work out when to send
        next (several queries); under a stream of host events that cost more than the events.
        The first commit of a burst wakes at once; later ones within the interval leave one
        wake for its end (a one-shot timer, only while events arrive), so none is forgotten.
        """
        with self._wake_lock:
            now = _monotonic()
            due = self._woken_at + COMMIT_WAKE_EVERY
            if now >= due:
                self._woken_at = now
            else:
                if not self._wake_pending:
                    self._wake_pending = True
                    timer = threading.Timer(due - now, self._trailing_wake)
                    timer.daemon = True
                    timer.start()
                return
        self._nudge()

    def _trailing_wake(self) -> None:
        with self._wake_lock:
            self._wake_pending = False
            self._woken_at = _monotonic()
        self._nudge()

    def writer_started(self) -> None:
        """On the endpoint's writer thread, first: its checkpoints move to a thread of their
        own (``app.storage.checkpoint``), so no group's answer waits for one."""
        self._checkpointer = Checkpointer(self.companion.db)
        try:
            self._checkpointer.start()
        except Exception as exc:  # a read-only disk: nothing to checkpoint, nothing lost
            log.warning("host endpoint: WAL checkpoints stay with the commits: %s", exc)
            self._checkpointer = None

    def writer_stopping(self) -> None:
        """On the writer thread, last: one checkpoint, and the thread's default back."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    def license(self, refresh: bool = False) -> dict[str, Any]:
        note = ""
        if refresh:  # throttled: hosts cannot drive the license server
            with self._refresh_lock:
                now = _monotonic()
                if self._refreshed_at is not None and now - self._refreshed_at < REFRESH_EVERY:
                    refresh = False
                    note = (f"the server is asked at most once per {REFRESH_EVERY:g} s; this "
                            "is the answer of the last check")
                else:
                    self._refreshed_at = now
        answer = license_answer(self.companion.license, self.grace_days, self.clock(), refresh)
        if note:
            answer["note"] = note
        return answer

    def consent(self) -> dict[str, Any]:
        policy = self.companion.consent
        categories = {
            s.category.id: {"choice": s.effective.value, "stored": s.decision.choice.value,
                            "reason": s.reason, "title": s.category.title,
                            "events": list(s.category.events)}
            for s in policy.states()
        }
        return {"do_not_track": policy.do_not_track, "categories": categories,
                "sending": self.companion.why_not_sending() or "allowed",
                "version": self.companion.config.consent.version}

    def show(self, window: str) -> None:
        if self._show is None:
            raise HostUnavailable("no tray is running in this companion, so no window can open")
        self._show(window)

    def flush(self) -> None:
        if self._flush is None:
            raise HostUnavailable("this companion has no send worker to start a round")
        self.flushes()  # a forced round skips our backoff: hosts get one per WAKE_EVERY

    def _start_round(self) -> None:
        if self._flush is not None:
            self._flush()

    def wake(self) -> None:
        """Another process of this user stored something: an ordinary round soon (at most one
        per ``WAKE_EVERY``, however many hosts ask)."""
        self.wakes()

    def _nudge(self) -> None:
        if self._wake is not None:
            self._wake()

    def watch_snapshot(self) -> dict[str, Any]:
        """What a ``watch`` compares: consent, the license answer without its moving age, and
        the queued events removed unsent per backend and reason (a ``drops`` push when it
        grows: dropping started or goes on)."""
        lic = self.license()
        lic["license"].pop("age_seconds", None)
        return {"consent": self.consent(), "license": lic,
                "drops": {"dropped_by_reason": self.companion.dropped_by_reason()}}
