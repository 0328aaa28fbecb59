"""Drains the outbox of one backend: at most one request in flight, backoff on failure.

The sender does not care who enqueued an event (CLI, tray, the vendor app's socket): it reads
the outbox, asks the backend to ``prepare`` requests, sends them with the ``HttpClient`` and lets
the backend ``interpret`` the answer. Events are removed only after a settled answer, so a crash
between send and ack means a resend, never a loss.

One thread, one request at a time: read a batch, build its requests, and for each request mark
its rows in flight (only if all are still queued, so a revoke that came meanwhile wins), send it
and store the answer, in one transaction with the next request's mark. At the load a desktop
sends, the server's latency is the whole cost; ``benchmarks/bench_delivery.py`` measures it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from app.backends.base import Backend
from app.delivery.batches import Batch, Round, Work, batch_size, next_batches, requests_for
from app.delivery.report import RoundReport
from app.delivery.send_state import (
    BATCH_LIMIT_HOLD,
    SendLease,
    current_state,
    failure_changes,
    scrubbed,
    success_changes,
)
from app.model.errors import NO_KEY_REASON, CompanionError, NoLicenseKeyError
from app.model.wire import Outcome, SendContext, Verdict
from app.storage import identity_reset
from app.storage.history import History, stored_request_text
from app.storage.outbox import MAX_UNANSWERED, Outbox, QueuedEvent
from app.storage.state import StateStore

if TYPE_CHECKING:  # the HTTP stack is imported on the first request (``LazyHttpClient``)
    from app.delivery.http import HttpClient

log = logging.getLogger(__name__)

# Without a license key nothing goes to KeyManager; the keyring is asked again this often (a
# key stored in the meantime is also used at once by "Send now" / ``send``).
KEY_RECHECK = 300.0


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
        setup: a fingerprint of the settings this backend sends with (URL, app ID, API key...,
            never the settings themselves); a block ("stopped until the setup changes") is kept
            with it and ends when the vendor's configuration gives another one.

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
        setup: str = "",
    ) -> None:
        self.backend = backend
        self.setup = setup
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
        self.lease = SendLease(state, backend.name, self.lease_ttl, clock)
        self._lock = threading.Lock()  # one request in flight per backend in this process
        self._salt = ""  # the identifier's reset generation the send context was made with

    @property
    def state_key(self) -> str:
        """Where this backend's send state lives in the state store."""
        return f"backend:{self.backend.name}"

    def info(self) -> dict[str, Any]:
        """Backoff/block/warning state for ``status`` (a block of another setup ended)."""
        return current_state(self.state.get(self.state_key, {}), self.setup)

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
        after: int = 0,
    ) -> list[Batch]:
        """The events the next ``rounds`` rounds would send, one list per round.

        ``send_round`` sends the first of them; the preview shows them all.

        Args:
            categories: only these consent categories (None: any; empty: none).
            exclude: none of these categories.
            rounds: how many rounds ahead.
            quarantine: move rows that do not read back aside (the sender only: reading
                for the preview never changes the file).
            after: only rows past this outbox ``seq``.
        """
        return next_batches(self.outbox, self.backend, self.batch_size(), categories,
                            exclude=exclude, rounds=rounds, quarantine=quarantine, after=after)

    def wait_time(self, force: bool = False) -> tuple[float, str]:
        """Seconds until the next attempt is allowed, and why (0 = now)."""
        info = self.info()
        now = self.clock()
        retry_after = info.get("retry_after_until") or 0
        if retry_after > now:
            return retry_after - now, "the server asked us to wait (Retry-After)"
        if info.get("blocked") and not force:
            return float("inf"), f"stopped: {info['blocked']}"
        waiting_key = info.get("waiting_key_at") or 0
        if waiting_key and not force:
            return max(0.0, waiting_key + KEY_RECHECK - now), NO_KEY_REASON
        next_at = info.get("next_at") or 0
        if next_at > now and not force:
            return next_at - now, f"backing off after {info.get('failures', 0)} failures"
        return 0.0, ""

    def send_round(self, categories: Iterable[str], force: bool = False, *,
                   keep_lease: bool = False, rounds: int = 1) -> RoundReport:
        """Send one batch of the oldest allowed events (or up to ``rounds``), if the backoff allows.

        Args:
            keep_lease: keep the send lease after the round (``drain``: the next round renews
                it instead of two more durable writes per request); ``release_lease`` ends it.
            rounds: batches to send one after the other. Sending stops early after a 413
                (the caller starts again with the smaller batch) or on any failure.
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
            # Still ours from the previous round of a drain: no write while time is to spare.
            if not self.lease.hold():
                report.stopped = "another process is sending to this backend"
                return report
            try:
                self._rounds(list(categories), report, max(1, rounds))
            finally:
                if not keep_lease or report.stopped or report.requests == 0:
                    self.lease.release()
        return report

    def release_lease(self) -> None:
        """Give the send lease back (after rounds sent with ``keep_lease``)."""
        with self._lock:
            self.lease.release()

    def drain(
        self, categories: Iterable[str], force: bool = False, max_rounds: int = 10_000
    ) -> RoundReport:
        """Send until the allowed queue is empty or something stops us."""
        cats = list(categories)
        total = RoundReport(self.backend.name)
        try:
            while total.rounds < max_rounds:
                report = self.send_round(cats, force=force and total.rounds == 0,
                                         keep_lease=True, rounds=max_rounds - total.rounds)
                total.merge(report)
                if report.stopped or report.requests == 0 or report.rounds == 0:
                    break
        finally:
            self.release_lease()
        return total

    def _rounds(self, categories: list[str], report: RoundReport, rounds: int) -> None:
        """Send up to ``rounds`` batches, one request at a time.

        Between two requests of a batch there is one durable write: the answer of the one
        before (history entry, removal or in-flight clear, send state) committed together with
        the next one's in-flight mark.
        """
        size = self.batch_size()
        read = self._read(categories, size, after=0)
        if read is None:
            return
        try:
            # Read before the context is made: a reset in between stops the run, never the
            # other way round (``_stop_reason``).
            self._salt = identity_reset.salt(self.outbox.db)
            ctx = self.context()  # once there is something to send; the same for the whole run
        except NoLicenseKeyError as exc:
            # Not a failure of the server: nothing leaves, no failure is counted, the events
            # wait. The keyring is asked again after ``KEY_RECHECK`` (or at once on "Send now").
            report.stopped = str(exc)
            self.state.update(self.state_key, {"waiting_key_at": self.clock()})
            return
        except CompanionError as exc:
            # e.g. the keyring is locked: sending now would send an empty license key and look
            # like a pirated copy, so wait for the user instead.
            self._failed(Outcome(Verdict.RETRY, str(exc)), report)
            return
        if self.info().get("waiting_key_at"):
            self.state.update(self.state_key, {"waiting_key_at": None})
        for _ in range(rounds):
            if read is None:
                return
            current = self._build(*read, ctx)
            report.rounds += 1
            if not self._send_batch(current, report, ctx):
                return
            read = self._read(categories, size, current.last_seq)

    def _send_batch(self, current: Round, report: RoundReport, ctx: SendContext) -> bool:
        """Send one batch's requests in order; False when sending must stop."""
        marked: tuple[int, ...] = ()  # rows marked in flight with the answer before
        for index, work in enumerate(current.work):
            if tuple(item.seq for item in work.items) != marked:
                stop = self._stop_reason()
                if stop:
                    report.stopped = stop
                    return False
                if not self._claim(work):
                    # Revoked (or settled by another sender) since the batch was read:
                    # the user's "no" wins over a request prepared but not yet sent.
                    continue
            outcome = self._exchange(work)
            report.requests += 1
            report.outcomes.append(outcome)
            log.info("%s: %d events -> %s (%s)", self.backend.name, len(work.items),
                     outcome.verdict.value, outcome.message)
            settled = outcome.verdict.removes_events or (
                outcome.verdict is Verdict.SPLIT and len(work.items) == 1  # cannot be smaller
            )
            following = current.work[index + 1] if settled and index + 1 < len(current.work) \
                else None
            stop = self._stop_reason() if following is not None else ""
            marked = self._settle(work, outcome, settled, report, ctx,
                                  None if stop else following)
            if stop:
                report.stopped = stop
                return False
            if not settled:
                self._unsettled(outcome, report, len(work.items))
                return False
        return True

    def _claim(self, work: Work) -> tuple[int, ...]:
        """Mark ``work``'s rows in flight (committed); its rows, or () when one is gone."""
        seqs = tuple(item.seq for item in work.items)
        with self.outbox.db.write() as conn:
            return seqs if self.outbox.claim_for_send(seqs, conn) else ()

    def _stop_reason(self) -> str:
        """Why no further request may leave now ("" = it may)."""
        if self.abort.is_set() or self.interrupt.is_set():
            return "stopped on request"
        if not self.lease.hold():
            return "lost the send lease to another process"
        if identity_reset.salt(self.outbox.db) != self._salt:
            return "the identifier was reset; the next round sends with the new one"
        return ""

    def _exchange(self, work: Work) -> Outcome:
        """Send one request (its rows already marked in flight) and read what the answer means."""
        from app.delivery.http import TransportError  # only once there is something to send

        try:
            response = self.client.send(work.request)
            return self.backend.interpret(work.request, response)
        except TransportError as exc:
            return Outcome(Verdict.RETRY, str(exc))
        except Exception:
            # A bug or an environment failure before the request left (e.g. no trust
            # store) or while reading its answer: these rows did not go unanswered, so
            # they must not count towards the resend bound.
            with self.outbox.db.write() as conn:
                self.outbox.clear_in_flight((item.seq for item in work.items), conn)
            raise

    def _settle(self, work: Work, outcome: Outcome, settled: bool, report: RoundReport,
                ctx: SendContext, following: Work | None = None) -> tuple[int, ...]:
        """Store the answer, and mark ``following`` in flight: one transaction, one fsync.

        The history entry and the removal from the outbox go together (a crash leaves both or
        neither); the entry keeps the request as sent, masked. Until it commits the rows stay
        marked in flight, so a crash before it resends them as possible duplicates. Returns
        the rows of ``following`` if they were all still queued and are now marked, else ().
        """
        items = work.items
        changes = None
        if settled and outcome.verdict is Verdict.SPLIT:
            report.rejected += len(items)
        elif settled:
            changes = self._success_changes(outcome, report, len(items))
        outcome = scrubbed(outcome, ctx.secrets)
        with self.outbox.db.write() as conn:
            self.history.record(self.backend.name, {i.category for i in items},
                                work.request.event_ids, outcome, conn,
                                request_text=work.history_text,
                                possible_duplicates=sum(1 for i in items if i.unanswered),
                                event_names=_names(work.request.event_ids, items))
            if settled:
                self.outbox.ack((item.seq for item in items), conn)
            else:
                self.outbox.clear_in_flight((item.seq for item in items), conn)
            if changes:
                self.state.update(self.state_key, changes)
            if following is not None:
                seqs = tuple(item.seq for item in following.items)
                if self.outbox.claim_for_send(seqs, conn):
                    return seqs
        return ()

    def _unsettled(self, outcome: Outcome, report: RoundReport, count: int) -> None:
        """The answer kept the events: a 413 shrinks the batch, anything else backs off."""
        if outcome.verdict is Verdict.SPLIT:
            # Smaller batches for an hour, then one try at growing again: at most one wasted
            # 413 an hour instead of a 413 after every success.
            self.state.update(self.state_key, {
                "batch_limit": max(1, count // 2),
                "batch_limit_until": self.clock() + BATCH_LIMIT_HOLD,
            })
            return  # the next round resends in smaller batches
        self._failed(outcome, report)

    def _read(self, categories: list[str], size: int,
              after: int) -> tuple[list[QueuedEvent], int] | None:
        """The next batch past row ``after`` and the last row it read (None: nothing left)."""
        queued: list[QueuedEvent] = []
        while not queued:
            batches = next_batches(self.outbox, self.backend, size, categories,
                                   quarantine=True, after=after)
            if not batches:
                return None
            after = batches[0][-1].seq
            queued = self._give_up_unanswered(batches[0])
        return queued, after

    def _build(self, queued: list[QueuedEvent], last_seq: int, ctx: SendContext) -> Round:
        """The requests that carry ``queued``, with the masked copies the history keeps."""
        by_id: dict[str, list[QueuedEvent]] = {}
        for item in queued:
            by_id.setdefault(item.event.id, []).append(item)
        work = [
            Work(request, [item for event_id in request.event_ids for item in by_id[event_id]],
                  stored_request_text(request.masked(ctx.secrets)))
            for request in requests_for(self.backend, [queued], ctx)
        ]
        return Round(work, last_seq)

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
                list(dict.fromkeys(i.event.id for i in spent)), MAX_UNANSWERED, conn,
                _names(dict.fromkeys(i.event.id for i in spent), spent))
            self.outbox.ack((item.seq for item in spent), conn)
        return [item for item in queued if item.unanswered < MAX_UNANSWERED]

    def _success_changes(self, outcome: Outcome, report: RoundReport,
                         count: int) -> dict[str, Any] | None:
        """Count the settled events; the send state to store with the answer (None: none)."""
        if outcome.verdict is Verdict.REJECTED:
            report.rejected += count
        elif outcome.verdict is Verdict.DELIVERED:
            report.delivered += count
        else:
            report.flagged += count
        return success_changes(self.info(), outcome, count, self.clock(), self.backend.max_batch)

    def _failed(self, outcome: Outcome, report: RoundReport) -> None:
        changes, report.stopped = failure_changes(self.info(), outcome, self.clock(), self.rand)
        if changes.get("blocked"):
            changes["blocked_setup"] = self.setup
        self.state.update(self.state_key, changes)


def _names(event_ids: Iterable[str], items: Iterable[QueuedEvent]) -> list[str]:
    """The event names of a request, one per event id in its order (the history's list)."""
    by_id = {item.event.id: item.event.name for item in items}
    return [by_id[event_id] for event_id in event_ids if event_id in by_id]
