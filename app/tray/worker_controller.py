"""The GUI thread's handle on the tray's worker (``app.tray.worker.CompanionWorker``).

Everything the windows and the tray ask of the worker goes through here: commands run on the
worker thread with ``run`` and answer on the GUI thread; the worker's events are re-emitted
here, on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, Qt, Signal

from app.core import commands
from app.core.companion import Companion
from app.core.results import CommandError, ConsentResult, LicenseInfo
from app.core.tray_state import Snapshot
from app.delivery.network import UNKNOWN_NETWORK, NetworkState
from app.tray.qt_emit import emit
from app.tray.qt_tasks import ResourceThread, join
from app.tray.worker import (
    EVENTS,
    SEND_INTERVAL,
    Callback,
    CompanionFactory,
    CompanionWorker,
    LicenseFactory,
    T,
    _Events,
)

log = logging.getLogger("app.tray.worker")


class WorkerController(_Events):
    """The GUI thread's handle on the worker: starts the thread, runs commands, re-emits events.

    Args: as ``CompanionWorker``, and ``parent``, the Qt parent.
    """

    commandRan = Signal(str)  # a command's call ended on the worker (op name): state may differ
    _start = Signal()  # these four are queued to the worker thread (the worker lives there)
    _stop = Signal()
    _send_now = Signal()
    _paused = Signal(bool)
    _wake = Signal()
    _network = Signal(object)

    def __init__(self, companion_factory: CompanionFactory,
                 license_factory: LicenseFactory | None = None, interval: float = SEND_INTERVAL,
                 parent: QObject | None = None, sending: bool = True) -> None:
        super().__init__(parent)
        self._thread = ResourceThread()
        self._thread.setObjectName("companion-worker")
        self.worker = w = CompanionWorker(companion_factory, license_factory, interval,
                                          sending=sending)
        w.moveToThread(self._thread)
        self.snapshot: Snapshot | None = None
        self._running = False
        self._make_watcher: Callable[[], QObject] | None = None
        self._watcher: QObject | None = None
        for name in EVENTS:
            getattr(w, name).connect(getattr(self, name))
        self.ready.connect(self._remember)
        self.stateChanged.connect(self._remember)
        self._start.connect(w.start)
        self._stop.connect(w.stop)
        # The thread quits only once stop() has run (closing the companion on its own thread).
        # Direct: stopped is emitted on the worker thread while the GUI thread waits in wait().
        w.stopped.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._send_now.connect(w.send_now)
        self._paused.connect(w.set_paused)
        self._wake.connect(w.wake)
        self._network.connect(w.network_changed)
        self.networkWanted.connect(self.ensure_network)

    def _remember(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def start(self) -> None:
        """Start the thread; ``ready`` (or ``fatal``) follows, then the commands run so far."""
        self._thread.start()
        self._running = True
        emit(self._start)
        self.worker.tasks.open()

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop the timer, let an in-flight request end, close, join; True if it did in time.

        When False, a request was still waiting for its answer: its events are still in the
        outbox (they leave it only after a settled answer), so the caller may exit anyway.
        """
        self.worker.tasks.close()
        if not self._running:
            return True
        self._running = False
        self.worker.request_stop()
        emit(self._stop)  # runs after the slot in progress; its stopped() quits the thread
        done = join(self._thread, self.worker, timeout)
        if not done:
            log.warning("the worker did not stop within %.1f s (a request is in flight)", timeout)
        return done

    # -- commands ---------------------------------------------------------------------------

    def run(self, call: Callable[[Companion], T], on_done: Callback[T] = None,
            on_error: Callback[CommandError] = None, *, op: str = "",
            context: QObject | None = None) -> None:
        """Run ``call(companion)`` on the worker thread; its answer goes to a callback.

        ``TaskRunner.run`` (see ``app.tray.qt_tasks`` for the guarantees); an error without
        ``on_error`` is emitted as ``failed``. Commands given before ``start`` run after it.
        """
        name = op or getattr(call, "__name__", "call")

        def call_then_tell(companion: Companion) -> T:
            try:
                return call(companion)
            finally:
                emit(self.commandRan, name)

        self.worker.tasks.run(call_then_tell, on_done, on_error or self._failed, op=name,
                              context=context)

    def _failed(self, error: CommandError) -> None:
        emit(self.failed, error)

    def send_now(self) -> None:
        """Send what is allowed now, past our backoff."""
        emit(self._send_now)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume sending on its own."""
        emit(self._paused, paused)

    def wake(self) -> None:
        """Thread-safe: an event was enqueued; the worker sends it if nothing holds it back.

        Call it after an enqueue that did not go through ``run`` on this controller (the
        tray's host door). Cheap when there is nothing to do: no timer is kept for it.
        """
        emit(self._wake)

    def round_soon(self) -> None:
        """Thread-safe: an ordinary round soon (backoff and pause respected), e.g. because
        another process stored events."""
        self.wake()

    def network_changed(self, state: object) -> None:
        """Hand the worker a new ``NetworkState`` (connect ``NetworkWatcher.changed`` here)."""
        emit(self._network, state)

    def watch_network(self, watcher: QObject) -> None:
        """Follow a ``NetworkWatcher`` (``app.tray.netinfo``): its state now, then every change."""
        self._watcher = watcher
        watcher.changed.connect(self.network_changed)  # type: ignore[attr-defined]
        self.network_changed(watcher.state())  # type: ignore[attr-defined]

    def watch_network_when_needed(self, make_watcher: Callable[[], QObject]) -> None:
        """Follow the watcher ``make_watcher()`` builds, built when a round first needs it.

        Why: loading the OS's network information (Qt's network module and its backend) is a
        large part of an idle tray's memory, and with nothing to send it decides nothing. A
        round that needs it waits for its first reading. Call before ``start``.
        """
        self._make_watcher = make_watcher
        self.worker.network_on_demand = True

    def ensure_network(self) -> None:
        """Build the on-demand watcher now, if there is one not built yet (GUI thread)."""
        make, self._make_watcher = self._make_watcher, None
        if make is None:
            return
        try:
            watcher = make()
        except Exception:
            log.exception("loading the OS's network information")
            self.network_changed(UNKNOWN_NETWORK)  # a waiting round goes as without it
            return
        self.watch_network(watcher)

    def current_network(self) -> NetworkState:
        """The OS's network state now (the watcher built first if it is on demand)."""
        self.ensure_network()
        watcher = self._watcher
        if watcher is not None:
            return watcher.state()  # type: ignore[attr-defined]
        return self.worker.network

    def grant(self, categories: Iterable[str] | None = None,
              on_done: Callback[ConsentResult] = None, on_error: Callback[CommandError] = None,
              *, context: QObject | None = None) -> None:
        """Grant categories (None: all), then send at once; answer: ``ConsentResult``."""
        cats = None if categories is None else list(categories)

        def call(companion: Companion) -> ConsentResult:
            result = commands.grant(companion, cats)
            emit(self.worker._kick)  # once this call returns: one who just agreed should not wait
            return result

        self.run(call, on_done, on_error, op="grant", context=context)

    def revoke(self, categories: Iterable[str] | None = None,
               on_done: Callback[ConsentResult] = None, on_error: Callback[CommandError] = None,
               *, context: QObject | None = None) -> None:
        """Revoke categories (None: all) and delete what is queued of them; a round in
        progress stops before its next request. Answer: ``ConsentResult``."""
        cats = None if categories is None else list(categories)
        self.worker.interrupt_sending()
        self.run(lambda c: commands.revoke(c, cats), on_done, on_error, op="revoke",
                 context=context)

    def license(self, op: str, arg: object = None, on_done: Callback[LicenseInfo] = None,
                on_error: Callback[CommandError] = None, *, context: QObject | None = None
                ) -> None:
        """``commands.license_command`` with the worker's license service (``set``: ``arg`` is
        the raw key); answer: ``LicenseInfo``, a failure in its ``error``."""
        worker = self.worker

        def call(companion: Companion) -> LicenseInfo:
            try:
                return commands.license_command(companion, worker.license, op, arg)
            finally:
                worker._probe_keyring()  # on the worker thread, like every call

        self.run(call, on_done, on_error, op=f"license {op}", context=context)
