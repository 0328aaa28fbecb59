"""The only Qt/thread glue: runs the service layer on one thread and reports back on another.

``CompanionWorker`` lives on a ``ResourceThread`` (``app.tray.qt_tasks``) and owns everything that
may block: the ``Companion`` (its SQLite connection is per thread, so the companion is *created*
on the worker thread), the network, the keyring (through the optional license service) and
sending. The GUI talks to it only through ``WorkerController``: events arrive as its signals,
and every command is ``run(call, on_done, on_error)`` (``app.tray.qt_tasks``): ``call(companion)``
runs on the worker thread and its answer comes back to a callback on the caller's thread. What
the commands do is in ``app.core.commands``, their answers in ``app.core.results``.

Sending is event-driven (no timer while nothing is due): a round starts at start, on
``wake()``, "Send now", a grant, resume, a write to the state database by another process
(watched, not polled), or when the one single-shot timer for the next due time fires.

Quitting: ``WorkerController.shutdown(timeout)`` sets the stop flag and every sender's
``abort`` (a round ends after its current request), closes the companion on its own thread and
joins the thread. Events leave the outbox only after a settled answer: nothing queued is lost.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from app.core import commands
from app.core.companion import Companion
from app.core.license import LicenseService
from app.core.network_gate import gate
from app.core.results import CommandError, ConsentResult, LicenseInfo, SendSummary, command_error
from app.core.schedule import next_wait
from app.core.tray_state import Snapshot
from app.core.tray_state import snapshot as tray_snapshot
from app.delivery.network import UNKNOWN_NETWORK, NetworkState, try_at_once
from app.tray.db_watch import DatabaseWatch
from app.tray.qt_emit import emit
from app.tray.qt_tasks import TaskRunner

log = logging.getLogger(__name__)

SEND_INTERVAL = 10.0  # seconds before retrying events that are due but were not sent
KEYRING_PROBE_INTERVAL = 300.0  # at most this often, the keyring is probed when a round begins
MIN_WAIT_MS = 50  # the due timer never fires sooner than this after a round


CompanionFactory = Callable[[], Companion]
LicenseFactory = Callable[[Companion], LicenseService | None]
T = TypeVar("T")
Callback = Callable[[T], object] | None


class _Events(QObject):
    """What the worker tells unasked, declared once: the worker emits these on its thread and
    the controller re-emits them on the GUI thread."""

    ready = Signal(object)  # Snapshot: the companion is open
    fatal = Signal(str)  # the companion could not be opened (config, disk); the worker is idle
    stateChanged = Signal(object)  # Snapshot
    sendStarted = Signal(bool)  # True: the user's "Send now"
    sendFinished = Signal(object)  # SendSummary
    failed = Signal(object)  # CommandError: a send round, or a command without on_error
    stopped = Signal()  # the companion is closed; the thread may quit
    networkWanted = Signal()  # a round waits for the OS's network state (see network_on_demand)


EVENTS = ("ready", "fatal", "stateChanged", "sendStarted", "sendFinished", "failed", "stopped",
          "networkWanted")


class CompanionWorker(_Events):
    """Owns the companion on the worker thread; every slot runs there.

    Args:
        companion_factory: builds the ``Companion``; called on the worker thread.
        license_factory: builds the license service for a companion (None: no license UI).
        interval: seconds before retrying events that are due but could not be sent.
        clock: seconds since the epoch.
        sending: send on its own; False for a window-only process next to a running tray
            ("Send now" still sends).
    """

    # Posted to ourselves to run later on this thread. Not QTimer.singleShot: a single-shot timer
    # still pending when the thread quits is destroyed from the GUI thread and Qt complains.
    _kick = Signal()
    _next_round = Signal()

    def __init__(self, companion_factory: CompanionFactory,
                 license_factory: LicenseFactory | None = None, interval: float = SEND_INTERVAL,
                 clock: Callable[[], float] = time.time, sending: bool = True) -> None:
        super().__init__()
        self._send_by_timer = sending
        self._home = QThread.currentThread()
        self._kick.connect(self._tick, Qt.ConnectionType.QueuedConnection)
        self._next_round.connect(self._continue, Qt.ConnectionType.QueuedConnection)
        self._factory = companion_factory
        self._license_factory = license_factory
        self._interval_ms = max(50, int(interval * 1000))
        self._clock = clock
        self.companion: Companion | None = None
        self.license: LicenseService | None = None
        # A child: moves to the worker thread with us, so the calls run there.
        self.tasks: TaskRunner[Companion] = TaskRunner(lambda: self.companion, self._publish, self)
        self._timer: QTimer | None = None  # single shot, armed for the next due time only
        self._license_timer: QTimer | None = None  # the vendor's license check schedule
        self._watcher: DatabaseWatch | None = None
        self._woken = False  # a wake arrived during a drain: look again once it ends
        self._paused = False
        self._sending = False
        self._draining = False
        self._forced = False
        self._summary = SendSummary(False)
        self._stop = threading.Event()  # set from the GUI thread; checked between rounds
        self._last: Snapshot | None = None
        self._keyring_problem = ""
        self._keyring_checked = 0.0
        self._network: NetworkState = UNKNOWN_NETWORK  # what the OS says (app.tray.netinfo)
        self.network_wait = ""  # why the last round tried nothing because of the network
        # True (set before start): the OS's network state is loaded when a round first needs
        # it; that round waits for the first reading (``networkWanted``, then network_changed).
        self.network_on_demand = False
        self._network_known = False
        self._network_pending: bool | None = None  # a round waiting for it (its ``forced``)
        self._network_asked = False

    # -- lifecycle --------------------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        """Open the companion (on this thread) and start the timer."""
        try:
            self.companion = self._factory()
            self.companion.enforce_policy()  # a policy change, applied once and recorded
            if self._license_factory is not None:
                self.license = self._license_factory(self.companion)
        except Exception as exc:
            error = command_error("start", exc)
            log.error("cannot start the worker: %s", error.message)
            emit(self.fatal, error.message)
            return
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._set_stored_pause(False)  # a pause is the running tray's, not a leftover's
        emit(self.ready, self._snapshot())
        if self.license is not None:
            # The license is checked at start and on the vendor's schedule, here on the worker
            # thread (the GUI never waits for it), after what was queued is on its way.
            self._license_timer = QTimer(self)
            self._license_timer.timeout.connect(self.check_license)
            hours = self.companion.config.license.check_every_hours
            if hours > 0:
                self._license_timer.start(int(min(hours * 3600, 24 * 24 * 3600) * 1000))
            QTimer.singleShot(0, self.check_license)
        if self._send_by_timer:
            self._watch_database()
            emit(self._kick)  # what was queued before the tray started goes now

    def request_stop(self) -> None:
        """Thread-safe: ask a drain in progress to stop after the current request.

        ``_stop`` is checked between rounds; each sender's ``abort`` before each request of
        the round in progress, so quitting waits for at most one request.
        """
        self._stop.set()
        companion = self.companion
        if companion is not None:
            for sender in list(companion.senders.values()):
                sender.abort.set()

    @Slot()
    def check_license(self) -> None:
        """Ask the license server about the stored key (no key or no KeyManager: nothing)."""
        service = self.license
        if service is None or self._stop.is_set() or service.problem():
            return
        try:
            service.verify()
        except Exception as exc:  # a keyring or network failure is shown by the status
            log.info("license check: %s", exc)
        self._publish()

    def _set_stored_pause(self, paused: bool) -> None:
        """Store the pause for ``status`` in other processes (a failure only logs)."""
        if self.companion is None:
            return
        try:
            self.companion.set_paused(paused)
        except Exception as exc:  # a read-only disk: the tray still pauses
            log.warning("cannot store the pause: %s", exc)

    @Slot()
    def stop(self) -> None:
        """Stop the timer and close the companion (queued after any in-flight round)."""
        self._stop.set()
        if self._license_timer is not None:
            self._license_timer.stop()
            self._license_timer.setParent(None)
            self._license_timer = None
        self._set_stored_pause(False)
        if self._timer is not None:
            # Destroy the timer here, on its own thread: Qt refuses to kill timers across threads.
            self._timer.stop()
            self._timer.setParent(None)
            self._timer = None
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            watcher.close()  # destroyed here, on its own thread
        if self.companion is not None:
            try:
                self.companion.close()
            except Exception:
                log.exception("closing the companion")
            self.companion = None
        # Hand ourselves back to the thread that made us, so our final destruction (by Python,
        # on that thread) does not cross threads; Qt re-registers anything still pending.
        self.moveToThread(self._home)
        emit(self.stopped)

    # -- sending ----------------------------------------------------------------------------

    @Slot()
    def wake(self) -> None:
        """Something was enqueued: send it now unless paused, backing off or already sending."""
        if self._draining:
            self._woken = True
            return
        self._tick()

    def _watch_database(self) -> None:
        """Wake when another process writes the state database (no polling)."""
        if self.companion is not None:
            self._watcher = DatabaseWatch(self.companion.db.path, self)
            self._watcher.changed.connect(self._database_changed)

    @Slot()
    def _database_changed(self) -> None:
        if self._draining or self._paused or self._stop.is_set():
            return  # our own writes while sending; the drain looks again when it ends
        self._schedule()

    def _next_wait(self) -> float | None:
        """Seconds until a round is worth starting; None: nothing to send, nothing due."""
        if self.companion is None or self._paused or self._stop.is_set():
            return None
        return next_wait(self.companion)

    def _schedule(self, after_round: bool = False) -> None:
        """Start a round now, or arm the single-shot timer for the next due time, or nothing.

        Args:
            after_round: a drain just ended: events due now were not sent for no timed reason
                (e.g. another process holds the lease), so retry after ``interval``.
        """
        timer = self._timer
        if timer is None or not self._send_by_timer:
            return
        try:
            wait = self._next_wait()
        except Exception:
            log.exception("computing the next send time")
            wait = self._interval_ms / 1000
        if wait is None:
            timer.stop()
            return
        if wait <= 0 and not after_round:
            timer.stop()
            emit(self._kick)
            return
        delay_ms = self._interval_ms if wait <= 0 else int(wait * 1000) + 1
        timer.start(max(MIN_WAIT_MS, min(delay_ms, 24 * 3600 * 1000)))

    @Slot()
    def send_now(self) -> None:
        """The user's "Send now": skip our backoff once and drain what is allowed."""
        if self.companion is None or self._stop.is_set():
            return
        if self._draining:
            self._forced = True
            return
        self._begin(forced=True)

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        """Pause or resume sending on its own ("Send now" still sends while paused)."""
        self._paused = paused
        self._set_stored_pause(paused)
        if paused and self._timer is not None:
            self._timer.stop()
        if not paused:
            emit(self._kick)
        self._publish()

    def interrupt_sending(self) -> None:
        """Thread-safe: end the round in progress before its next request (a revoke is coming).

        The revoke itself runs on this thread after the round; without this, a long round would
        keep sending the category the user just said no to.
        """
        companion = self.companion
        if companion is not None:
            for sender in companion.senders.values():
                sender.interrupt.set()

    @Slot()
    def _tick(self) -> None:
        if self.companion is None or self._stop.is_set() or self._draining:
            return
        if self._paused:
            self._publish()
            return
        try:
            wait = self._next_wait()
        except Exception:
            log.exception("computing the next send time")
            wait = 0.0  # let the round itself report what is wrong
        if wait is None or wait > 0:
            self._schedule()  # nothing to send, or not yet: arm the timer (or nothing)
            return
        self._begin(forced=False)

    def _begin(self, forced: bool) -> None:
        if self.network_on_demand and not self._network_known:
            # An idle tray keeps Qt's network module unloaded until something is to be sent.
            self._network_pending = forced or bool(self._network_pending)
            if not self._network_asked:
                self._network_asked = True
                emit(self.networkWanted)
            return
        # The keyring is asked when a round may need the key, not at rest: importing it and
        # its D-Bus client is a large part of an idle tray's memory.
        if self._clock() - self._keyring_checked > KEYRING_PROBE_INTERVAL:
            self._probe_keyring()
        self._draining = True
        self._forced = forced
        self._summary = SendSummary(forced)
        self._round(first=True)

    @Slot()
    def _continue(self) -> None:
        self._round(first=False)

    def _round(self, first: bool) -> None:
        """One batch per backend, then yield to the event loop so commands run in between."""
        companion = self.companion
        if companion is None or self._stop.is_set():
            self._finish()
            return
        forced = self._forced
        self._forced = False
        allowed = self._network_gate(companion)
        if allowed is not None and not allowed:
            self._finish(held_by_network=True)  # nothing tried: no failure, no backoff grows
            return
        if not (self._sending or companion.why_not_sending()) and sum(companion.outbox.counts().values()) > 0:
            self._sending = True
            emit(self.sendStarted, forced and first)
            self._publish()
        try:
            reports = companion.send_round(force=forced, backends=allowed)
        except Exception as exc:
            emit(self.failed, command_error("send", exc))
            self._finish()
            return
        self._summary = self._summary.plus(reports.values())
        progressed = any(r.requests > 0 and not r.stopped for r in reports.values())
        if progressed and not self._stop.is_set() and (not self._paused or self._summary.forced):
            self._publish()
            emit(self._next_round)
            return
        self._finish()

    def _finish(self, held_by_network: bool = False) -> None:
        was_sending, self._draining, self._sending = self._sending, False, False
        self._publish()  # the new state first, so sendFinished's receivers see it
        if was_sending or self._summary.requests:
            remaining = sum(self.companion.outbox.counts().values()) if self.companion else 0
            emit(self.sendFinished, dataclasses.replace(self._summary, remaining=remaining))
        woken, self._woken = self._woken, False
        if woken:
            emit(self._kick)
        elif not self._stop.is_set() and not held_by_network:  # a network change wakes us
            self._schedule(after_round=True)

    # -- network awareness ------------------------------------------------------------------

    @property
    def network(self) -> NetworkState:
        """The OS's network state as last reported (an immutable reading)."""
        return self._network

    def _network_gate(self, companion: Companion) -> tuple[str, ...] | None:
        """The backends this round may try (None: all, the OS tells nothing)."""
        if not self._network.backend:
            self.network_wait = ""
            return None  # no network information here: behave as without it
        answer = gate(companion, self._network)
        self.network_wait = answer.reason
        return answer.backends

    @Slot(object)
    def network_changed(self, state: NetworkState) -> None:
        """The OS's network state changed; when the network is back, try at once.

        "At once" is past our own backoff (a forced round), never past a server's Retry-After.
        """
        first, self._network_known = not self._network_known, True
        before, self._network = self._network, state
        pending, self._network_pending = self._network_pending, None
        if self.companion is None or self._stop.is_set():
            return
        if first and self.network_on_demand:  # the first reading, not a change
            if pending is not None and not self._draining:
                self._begin(forced=pending)
            return
        if try_at_once(before.reachability, state.reachability) and not self._paused:
            log.info("the network is back (%s): sending now", state.describe())
            self.send_now()
        elif not self._draining:
            self._schedule()  # e.g. no longer metered: what the gate held may be due now

    # -- tray state -------------------------------------------------------------------------

    def _probe_keyring(self) -> None:
        """Whether the keyring still answers (a keyring that is gone needs the user)."""
        self._keyring_checked = self._clock()
        self._keyring_problem = commands.keyring_problem(self.license)

    def _publish(self) -> None:
        if self.companion is None:
            return
        try:
            snap = self._snapshot()
        except Exception:
            log.exception("computing the tray state")
            return
        if snap != self._last:
            self._last = snap
            emit(self.stateChanged, snap)

    def _snapshot(self) -> Snapshot:
        companion = self.companion
        assert companion is not None
        snap = tray_snapshot(companion.status(read_keyring=False), sending=self._sending,
                             paused=self._paused, keyring=self._keyring_problem)
        if self.network_wait:
            snap = dataclasses.replace(snap, details=(*snap.details,
                                                      f"Waiting: {self.network_wait}"))
        return snap


# CommandError, ConsentResult, LicenseInfo: the answers callers get, importable from here.
__all__ = ["CommandError", "CompanionWorker", "ConsentResult", "LicenseInfo"]
