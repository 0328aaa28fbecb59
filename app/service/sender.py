"""Drains the outbox of one backend: at most one request in flight, backoff on failure.

The sender does not care who enqueued an event (CLI, tray, the vendor app's socket): it reads
the outbox, asks the backend to ``prepare`` requests, sends them with the ``HttpClient`` and lets
the backend ``interpret`` the answer. Events are removed only after a settled answer, so a crash
between send and ack means a resend, never a loss.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.backends.base import Backend
from app.model.errors import CompanionError
from app.model.text import printable
from app.model.wire import Outcome, SendContext, SignatureStatus, Verdict, scrub_secrets
from app.service.backoff import backoff_delay
from app.service.batches import Batch, batch_size, next_batches, requests_for
from app.storage.history import History
from app.storage.outbox import MAX_UNANSWERED, Outbox, QueuedEvent
from app.storage.state import StateStore

if TYPE_CHECKING:  # the HTTP stack is imported on the first request (``LazyHttpClient``)
    from app.service.http import HttpClient

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    """What one or more rounds of sending did."""

    backend: str
    requests: int = 0
    delivered: int = 0
    flagged: int = 0
    rejected: int = 0
    stopped: str = ""  # why sending stopped before the queue was empty ("" = it did not)
    outcomes: list[Outcome] = field(default_factory=list)

    def merge(self, other: RoundReport) -> None:
        """Add another round's counts to this one."""
        self.requests += other.requests
        self.delivered += other.delivered
        self.flagged += other.flagged
        self.rejected += other.rejected
        self.stopped = other.stopped
        self.outcomes += other.outcomes


BATCH_LIMIT_HOLD = 3600.0  # seconds a batch size reduced by a 413 is kept before growing again


def owner_is_dead(owner: str) -> bool:
    """Whether a lease holder ("host:pid:nonce") is a process on this host that no longer runs.

    Only POSIX can ask cheaply and safely (``os.kill(pid, 0)``); elsewhere the lease's time limit
    frees it.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if os.name != "posix" or host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


class Sender:
    """Sends one backend's queued events.

    Args:
        backend: builds and interprets the requests.
        outbox: where the events wait.
        state: backoff, block and warning state, shared with other processes.
        history: where every request that left the machine is recorded.
        client: the HTTP client (one per backend).
        context: returns the identity and secrets to attach, at send time.
        clock: seconds since the epoch.
        rand: 0..1 random source for the backoff jitter.
        lease_ttl: seconds the send lease lasts unless renewed; by default long enough for two
            requests at the client's full timeouts, so a slow answer never lets another process
            take over a batch that is still in flight.

    Attributes:
        abort: set it (from any thread) to stop sending before the next request, for good
            (quit). It is never cleared here, so a stop cannot be lost to a round that was just
            starting.
        interrupt: set it (from any thread) to end the round in progress before its next
            request, e.g. because the user is revoking consent; whoever set it clears it once
            the change is stored.
    """

    def __init__(
        self,
        backend: Backend,
        outbox: Outbox,
        state: StateStore,
        history: History,
        client: HttpClient,
        context: Callable[[], SendContext],
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        lease_ttl: float | None = None,
    ) -> None:
        self.backend = backend
        self.outbox = outbox
        self.state = state
        self.history = history
        self.client = client
        self.context = context
        self.clock = clock
        self.rand = rand
        connect, read = client.timeout
        self.lease_ttl = lease_ttl or max(60.0, 2 * (connect + read) + 10)
        self.abort = threading.Event()
        self.interrupt = threading.Event()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()  # one request in flight per backend in this process
        self._lease_until = 0.0

    @property
    def state_key(self) -> str:
        """Where this backend's send state lives in the state store."""
        return f"backend:{self.backend.name}"

    def info(self) -> dict[str, Any]:
        """Backoff/block/warning state for ``status``."""
        info: dict[str, Any] = self.state.get(self.state_key, {})
        return info

    def batch_size(self) -> int:
        """Events per round now: the backend's ``max_batch``, or fewer after a 413."""
        return batch_size(self.backend, self.info().get("batch_limit"))

    def next_batches(
        self,
        categories: Iterable[str] | None,
        *,
        exclude: Iterable[str] | None = None,
        rounds: int = 1,
        quarantine: bool = False,
    ) -> list[Batch]:
        """The events the next ``rounds`` rounds would send, one list per round.

        ``send_round`` sends the first of them; the preview shows them all.

        Args:
            categories: only these consent categories (None: any; empty: none).
            exclude: none of these categories.
            rounds: how many rounds ahead.
            quarantine: move rows that do not read back aside (the sender only: reading
                for the preview never changes the file).
        """
        return next_batches(self.outbox, self.backend, self.batch_size(), categories,
                            exclude=exclude, rounds=rounds, quarantine=quarantine)

    def wait_time(self, force: bool = False) -> tuple[float, str]:
        """Seconds until the next attempt is allowed, and why (0 = now)."""
        info = self.info()
        now = self.clock()
        retry_after = info.get("retry_after_until") or 0
        if retry_after > now:
            return retry_after - now, "the server asked us to wait (Retry-After)"
        if info.get("blocked") and not force:
            return float("inf"), f"stopped: {info['blocked']}"
        next_at = info.get("next_at") or 0
        if next_at > now and not force:
            return next_at - now, f"backing off after {info.get('failures', 0)} failures"
        return 0.0, ""

    def send_round(self, categories: Iterable[str], force: bool = False, *,
                   keep_lease: bool = False) -> RoundReport:
        """Send one batch of the oldest allowed events, if the backoff allows.

        Args:
            keep_lease: keep the send lease after the round (``drain``: the next round renews
                it instead of two more durable writes per request); ``release_lease`` ends it.
        """
        report = RoundReport(self.backend.name)
        if self.abort.is_set():
            report.stopped = "stopped on request"
            return report
        wait, why = self.wait_time(force)
        if wait > 0:
            report.stopped = why
            return report
        if not self.outbox.counts().get(self.backend.name):
            return report  # nothing queued: no lease to take, no write for an idle wake-up
        with self._lock:
            now = self.clock()
            if now < self._lease_until - self.lease_ttl / 2:
                pass  # still ours from the previous round of this drain, with time to spare
            elif not self.state.claim(f"lease:{self.backend.name}", self.owner, now,
                                      self.lease_ttl, owner_is_dead):
                self._lease_until = 0.0
                report.stopped = "another process is sending to this backend"
                return report
            else:
                self._lease_until = now + self.lease_ttl
            try:
                self._round(list(categories), report)
            finally:
                if not keep_lease or report.stopped or report.requests == 0:
                    self._release()
        return report

    def release_lease(self) -> None:
        """Give the send lease back (after rounds sent with ``keep_lease``)."""
        with self._lock:
            if self._lease_until:
                self._release()

    def _release(self) -> None:
        self._lease_until = 0.0
        self.state.release(f"lease:{self.backend.name}", self.owner)

    def drain(
        self, categories: Iterable[str], force: bool = False, max_rounds: int = 10_000
    ) -> RoundReport:
        """Send until the allowed queue is empty or something stops us."""
        cats = list(categories)
        total = RoundReport(self.backend.name)
        try:
            for round_no in range(max_rounds):
                report = self.send_round(cats, force=force and round_no == 0, keep_lease=True)
                total.merge(report)
                if report.stopped or report.requests == 0:
                    break
        finally:
            self.release_lease()
        return total

    def _round(self, categories: list[str], report: RoundReport) -> None:
        queued: list[QueuedEvent] = []
        while not queued:
            batches = self.next_batches(categories, quarantine=True)
            if not batches:
                return
            queued = self._give_up_unanswered(batches[0])
        from app.service.http import TransportError  # only once there is something to send
        try:
            ctx = self.context()
        except CompanionError as exc:
            # e.g. the keyring is locked: sending now would send an empty license key and look
            # like a pirated copy, so wait for the user instead.
            self._failed(Outcome(Verdict.RETRY, str(exc)), report)
            return
        by_id: dict[str, list[QueuedEvent]] = {}
        for item in queued:
            by_id.setdefault(item.event.id, []).append(item)
        requests = requests_for(self.backend, [queued], ctx)
        for request in requests:
            items = [item for event_id in request.event_ids for item in by_id[event_id]]
            if self.abort.is_set() or self.interrupt.is_set():
                report.stopped = "stopped on request"
                return
            if not self._renew_lease():
                report.stopped = "lost the send lease to another process"
                return
            if not self.outbox.still_queued([item.seq for item in items]):
                # Revoked (or settled by another sender) since the batch was read: the user's
                # "no" wins over a request that was prepared but not yet sent.
                continue
            # Committed before the request leaves: if this process dies before the answer is
            # recorded, the next sender knows the server may already have these events.
            self.outbox.mark_in_flight(item.seq for item in items)
            try:
                response = self.client.send(request)
                outcome = self.backend.interpret(request, response)
            except TransportError as exc:
                outcome = Outcome(Verdict.RETRY, str(exc))
            except Exception:
                # A bug or an environment failure before the request left (e.g. no trust
                # store) or while reading its answer: these rows did not go unanswered, so
                # they must not count towards the resend bound.
                with self.outbox.db.write() as conn:
                    self.outbox.clear_in_flight((item.seq for item in items), conn)
                raise
            report.requests += 1
            report.outcomes.append(outcome)
            log.info("%s: %d events -> %s (%s)", self.backend.name, len(items),
                     outcome.verdict.value, outcome.message)
            settled = outcome.verdict.removes_events or (
                outcome.verdict is Verdict.SPLIT and len(items) == 1  # cannot get smaller
            )
            # The history entry and the removal from the outbox are one transaction: a crash
            # leaves either both or neither. The entry keeps the request as sent, masked.
            outcome = _scrubbed(outcome, ctx.secrets)
            with self.outbox.db.write() as conn:
                self.history.record(self.backend.name, {i.category for i in items},
                                    request.event_ids, outcome, conn,
                                    request=request.masked(ctx.secrets),
                                    possible_duplicates=sum(1 for i in items if i.unanswered))
                if settled:
                    self.outbox.ack((item.seq for item in items), conn)
                else:
                    self.outbox.clear_in_flight((item.seq for item in items), conn)
            if settled and outcome.verdict is Verdict.SPLIT:
                report.rejected += len(items)
                continue
            if settled:
                self._succeeded(outcome, report, len(items))
                continue
            if outcome.verdict is Verdict.SPLIT:
                # Smaller batches for an hour, then one try at growing again: at most one wasted
                # 413 an hour instead of a 413 after every success.
                self.state.update(self.state_key, {
                    "batch_limit": max(1, len(items) // 2),
                    "batch_limit_until": self.clock() + BATCH_LIMIT_HOLD,
                })
                return  # the next round resends in smaller batches
            self._failed(outcome, report)
            return

    def _give_up_unanswered(self, queued: list[QueuedEvent]) -> list[QueuedEvent]:
        """Settle the rows already sent ``MAX_UNANSWERED`` times without an answer recorded.

        At-least-once is kept up to that bound: each of those requests may have arrived, so
        one more would most likely be one more copy. They leave the queue with a history entry
        that says so. Returns the rows still to send.
        """
        spent = [item for item in queued if item.unanswered >= MAX_UNANSWERED]
        if not spent:
            return queued
        log.warning("%s: %d event(s) sent %d times without an answer; not sent again",
                    self.backend.name, len(spent), MAX_UNANSWERED)
        with self.outbox.db.write() as conn:
            self.history.record_unconfirmed(
                self.backend.name, {i.category for i in spent},
                list(dict.fromkeys(i.event.id for i in spent)), MAX_UNANSWERED, conn)
            self.outbox.ack((item.seq for item in spent), conn)
        return [item for item in queued if item.unanswered < MAX_UNANSWERED]

    def _renew_lease(self) -> bool:
        """Keep our lease while a round goes on (a write only when half of it has run out).

        Returns False when another process holds it now: the round must stop.
        """
        now = self.clock()
        if now > self._lease_until - self.lease_ttl / 2:
            if not self.state.claim(f"lease:{self.backend.name}", self.owner, now,
                                    self.lease_ttl, owner_is_dead):
                return False
            self._lease_until = now + self.lease_ttl
        return True

    def _succeeded(self, outcome: Outcome, report: RoundReport, count: int) -> None:
        """The events are settled; a rejection settles them but is no success to report."""
        info = self.info()
        now = self.clock()
        changes: dict[str, Any] = {"failures": 0, "next_at": 0, "blocked": None}
        if outcome.verdict is Verdict.REJECTED:
            report.rejected += count
            changes["last_rejection"] = outcome.message
            changes["last_rejection_at"] = now
            changes["rejected_total"] = int(info.get("rejected_total") or 0) + count
        else:
            if outcome.verdict is Verdict.DELIVERED:
                report.delivered += count
            else:
                report.flagged += count
            changes["last_success"] = now
            changes["last_rejection"] = None
        if outcome.signature in (SignatureStatus.VALID, SignatureStatus.NOT_CHECKED):
            changes["signature_warning"] = None
        if info.get("batch_limit") and now > (info.get("batch_limit_until") or 0):
            doubled = info["batch_limit"] * 2
            changes["batch_limit"] = None if doubled >= self.backend.max_batch else doubled
            changes["batch_limit_until"] = now + BATCH_LIMIT_HOLD
        # Write only when something changed, or to refresh last_success once per second.
        volatile = ("last_success", "last_rejection_at", "rejected_total")
        changed = any(info.get(k) != v for k, v in changes.items() if k not in volatile)
        if changed or now - (info.get("last_success") or 0) > 1:
            self.state.update(self.state_key, changes)

    def _failed(self, outcome: Outcome, report: RoundReport) -> None:
        info = self.info()
        now = self.clock()
        failures = int(info.get("failures") or 0) + 1
        changes: dict[str, Any] = {
            "failures": failures,
            "last_failure": now,
            "last_error": printable(outcome.message),
        }
        if outcome.verdict is Verdict.BLOCKED:
            changes["blocked"] = outcome.message
            report.stopped = f"stopped: {outcome.message}"
        else:
            changes["next_at"] = now + backoff_delay(failures, self.rand)
            report.stopped = f"will retry: {outcome.message}"
        if outcome.retry_after:
            changes["retry_after_until"] = now + min(outcome.retry_after, 24 * 3600)
        if outcome.signature in (SignatureStatus.INVALID, SignatureStatus.UNSIGNED):
            changes["signature_warning"] = outcome.message
        self.state.update(self.state_key, changes)


def _scrubbed(outcome: Outcome, secrets: Iterable[str]) -> Outcome:
    """The outcome as the history keeps it: a key the server echoed in its words is masked."""
    secrets = tuple(secrets)
    errors = outcome.errors
    if errors:
        errors = json.loads(scrub_secrets(json.dumps(errors, default=str), secrets))
    return dataclasses.replace(outcome, message=scrub_secrets(outcome.message, secrets),
                               errors=errors)
