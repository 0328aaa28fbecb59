"""The only Qt/thread glue: runs the service layer on one thread and reports back with signals.

``CompanionWorker`` lives on a ``QThread`` and owns everything that may block: the ``Companion``
(its SQLite connection is per thread, so the companion is *created* on the worker thread), the
network, the keyring (through the optional license service) and the send timer. The GUI talks
to it only through ``WorkerController``, which lives on the GUI thread, forwards commands as
queued signals and re-emits the worker's results on the GUI thread. Results are plain frozen
dataclasses; no widget, no ``QApplication`` is touched here.

Quitting: ``WorkerController.shutdown(timeout)`` sets the stop flag and every sender's ``abort``
(so a round in progress ends after its current request, which has the HTTP client's timeout),
queues ``stop`` (which closes the companion on its own thread and emits ``stopped``, which quits
the thread) and joins the thread, waiting at most ``timeout`` seconds. Events leave the outbox
only after a settled answer, so whatever happens at quit, nothing queued is lost (at worst it is
resent).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, SignalInstance, Slot

from app.model.errors import CompanionError
from app.model.wire import mask_secret
from app.service.companion import BackendPreview, Companion, TrackResult
from app.service.license import UNKNOWN, VALID, LicenseState, LicenseStatus
from app.service.tray_state import Snapshot
from app.service.tray_state import snapshot as tray_snapshot
from app.storage.license_store import normalise_key

log = logging.getLogger(__name__)


class _Probe(QObject):
    signal = Signal()


_emit_drops_true: bool | None = None


def emit(signal: SignalInstance, *args: object) -> None:
    """``signal.emit(*args)``, working around a reference-count bug in PySide6 6.12.0.

    On CPython < 3.12 every Python-side ``SignalInstance.emit`` of PySide6 6.12.0 returns
    ``True`` without taking a reference, so each call lowers ``True``'s refcount by one; after a
    few thousand emits the interpreter aborts with "Fatal Python error: bool_dealloc". We
    measure once whether this build has the bug and, if so, give the reference back. Use this
    helper for every emit in long-running code (the tray runs for days).

    pyproject.toml pins 6.11.3, which does not have the bug, so on our own builds this is a
    guard that costs one measurement; it matters where a vendor or distribution swaps in 6.12.0.
    """
    global _emit_drops_true
    if _emit_drops_true is None:
        probe = _Probe()
        before = sys.getrefcount(True)
        for _ in range(8):
            probe.signal.emit()
        _emit_drops_true = sys.getrefcount(True) < before
        if _emit_drops_true:
            for _ in range(8):
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    if signal.emit(*args) is True and _emit_drops_true:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))

SEND_INTERVAL = 10.0  # seconds between timer rounds
_STILL_RUNNING: list[tuple[QThread, QObject]] = []  # workers that outlived shutdown()
KEYRING_PROBE_INTERVAL = 300.0  # seconds between keyring health checks while idle


@dataclass(frozen=True)
class LicenseInfo:
    """What the license window shows; never the clear key unless ``revealed``.

    Attributes:
        available: a license service exists in this build/configuration.
        product: the product name.
        masked_key: the key masked (``9cc2…1541``), "" when none is stored.
        revealed_key: the clear key, only in answer to an explicit reveal request.
        state: the ``LicenseState`` (``NO_KEY`` when no key is stored).
        message: the server's (or our) words about the state.
        code: the server's response code, if any.
        checked_at: when the server last answered (epoch seconds), if ever.
        user_identifier: the identifier sent for this user.
        error: why the last operation failed ("" when it did not).
        notice: what happened to this computer's seat for the previous key when a key was
            replaced or removed ("" when it held none).
        seat_kept: the previous key's seat could not be freed (``notice`` says how to).
        internal_error: the operation failed with a bug of ours (``error`` says so), not the
            environment: the window stops offering key entry.
    """

    available: bool
    product: str = ""
    masked_key: str = ""
    revealed_key: str = field(default="", repr=False)
    state: LicenseState = LicenseState.UNKNOWN
    message: str = ""
    code: int | None = None
    checked_at: float | None = None
    user_identifier: str = ""
    error: str = ""
    notice: str = ""
    seat_kept: bool = False
    internal_error: bool = False


@dataclass(frozen=True)
class SendSummary:
    """What one "send" (a timer round or a forced drain) did, over all backends."""

    forced: bool
    requests: int = 0
    delivered: int = 0
    flagged: int = 0
    rejected: int = 0
    stopped: tuple[str, ...] = ()
    remaining: int = 0


@dataclass(frozen=True)
class PreviewResult:
    """Answer to ``request_preview``; ``token`` matches the request."""

    token: int
    reveal: bool
    granted: tuple[str, ...] | None
    previews: tuple[BackendPreview, ...]


@dataclass(frozen=True)
class ConsentResult:
    """Answer to ``grant``/``revoke``: the categories changed and queued events deleted."""

    granted: bool
    categories: tuple[str, ...]
    deleted: int = 0


@dataclass(frozen=True)
class ConsentView:
    """Answer to ``consent_view``: what the consent window needs to draw its switches."""

    states: tuple[Any, ...]  # ConsentPolicy.states(): CategoryState items
    do_not_track: bool
    version_changed: bool
    version: int


@dataclass(frozen=True)
class HistoryExport:
    """Answer to ``export_history``: the whole history written as ``history --json`` prints it.

    Attributes:
        path: where it was (or should have been) written.
        count: entries written.
        error: why nothing was written ("" when it was).
    """

    path: str
    count: int = 0
    error: str = ""


@dataclass(frozen=True)
class CommandError:
    """A command failed; ``message`` is for the user (environment problems are not bugs)."""

    op: str
    message: str
    bug: bool = False


class LicenseServiceLike(Protocol):
    """The part of ``app.service.license.LicenseService`` the worker uses."""

    def key(self) -> str: ...
    def set_key(self, raw: str) -> str: ...
    def clear_key(self) -> bool: ...
    def verify(self) -> LicenseStatus: ...
    def activate(self) -> LicenseStatus: ...
    def deactivate(self) -> LicenseStatus: ...
    def cached_status(self, *, check_key: bool = True) -> LicenseStatus: ...


CompanionFactory = Callable[[], Companion]
LicenseFactory = Callable[[Companion], LicenseServiceLike | None]


class _Results(QObject):
    """The result signals, declared once: the worker emits them on its thread and the
    controller re-emits the same ones on the GUI thread."""

    ready = Signal(object)
    fatal = Signal(str)
    stateChanged = Signal(object)
    sendStarted = Signal(bool)
    sendFinished = Signal(object)
    previewReady = Signal(object)
    statusReady = Signal(object)
    historyReady = Signal(object)
    historyExported = Signal(object)
    consentChanged = Signal(object)
    tracked = Signal(object)
    licenseReady = Signal(object)
    consentViewReady = Signal(object)
    failed = Signal(object)
    stopped = Signal()


# Their names, for the controller's relay.
RESULT_SIGNALS = (
    "ready", "fatal", "stateChanged", "sendStarted", "sendFinished", "previewReady",
    "statusReady", "historyReady", "historyExported", "consentChanged", "tracked",
    "licenseReady", "consentViewReady", "failed", "stopped",
)


class CompanionWorker(_Results):
    """Owns the companion on the worker thread; every slot runs there.

    Args:
        companion_factory: builds the ``Companion``; called on the worker thread.
        license_factory: builds the license service for a companion (None: no license UI).
        interval: seconds between timer rounds.
        clock: seconds since the epoch.
        sending: run the timer; False for a window-only process next to a running tray
            ("Send now" still sends).

    Signals:
        ready(Snapshot): the companion is open; first state.
        fatal(str): the companion could not be opened (config, disk); the worker is idle.
        stateChanged(Snapshot): the tray's state changed.
        sendStarted(bool): a send began (True = the user's "Send now").
        sendFinished(SendSummary): a send ended.
        previewReady(PreviewResult): answer to ``preview``.
        statusReady(CompanionStatus): answer to ``status`` (``Companion.status()``).
        historyReady(list): answer to ``history`` (``HistoryEntry`` items, newest first).
        historyExported(HistoryExport): answer to ``export_history``.
        consentChanged(ConsentResult): a grant or revoke was stored.
        tracked(TrackResult): an event was accepted.
        licenseReady(LicenseInfo): answer to any license operation.
        consentViewReady(ConsentView): answer to ``consent_view``.
        failed(CommandError): a command failed.
        stopped(): the worker closed the companion; the thread may quit.
    """

    # Posted to ourselves to run later on this thread. Not QTimer.singleShot: a single-shot timer
    # still pending when the thread quits is destroyed from the GUI thread and Qt complains.
    _kick = Signal()
    _next_round = Signal()

    def __init__(
        self,
        companion_factory: CompanionFactory,
        license_factory: LicenseFactory | None = None,
        interval: float = SEND_INTERVAL,
        clock: Callable[[], float] = time.time,
        sending: bool = True,
    ) -> None:
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
        self.license: LicenseServiceLike | None = None
        self._timer: QTimer | None = None
        self._paused = False
        self._sending = False
        self._draining = False
        self._forced = False
        self._totals: dict[str, Any] = {}
        self._stop = threading.Event()  # set from the GUI thread; checked between rounds
        self._last: Snapshot | None = None
        self._keyring_problem = ""
        self._keyring_checked = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        """Open the companion (on this thread) and start the timer."""
        try:
            self.companion = self._factory()
            if self._license_factory is not None:
                self.license = self._license_factory(self.companion)
        except CompanionError as exc:
            log.error("cannot start the worker: %s", exc)
            emit(self.fatal, str(exc))
            return
        except Exception as exc:
            log.exception("cannot start the worker")
            emit(self.fatal, f"internal error ({type(exc).__name__}); see the log file")
            return
        self._timer = QTimer(self)
        self._timer.setInterval(self._interval_ms)
        self._timer.timeout.connect(self._tick)
        self._probe_keyring()
        emit(self.ready, self._snapshot())
        if self._send_by_timer:
            self._timer.start()
            emit(self._kick)  # a user who just agreed should not wait 10 s

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
    def stop(self) -> None:
        """Stop the timer and close the companion (queued after any in-flight round)."""
        self._stop.set()
        if self._timer is not None:
            # Destroy the timer here, on its own thread: Qt refuses to kill timers across threads.
            self._timer.stop()
            self._timer.setParent(None)
            self._timer = None
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
        """Pause or resume the timer's sending ("Send now" still sends while paused)."""
        self._paused = paused
        if not paused:
            emit(self._kick)
        self._publish()

    @Slot()
    def _tick(self) -> None:
        if self.companion is None or self._stop.is_set() or self._draining:
            return
        if self._clock() - self._keyring_checked > KEYRING_PROBE_INTERVAL:
            self._probe_keyring()
        if self._paused:
            self._publish()
            return
        self._begin(forced=False)

    def _begin(self, forced: bool) -> None:
        self._draining = True
        self._forced = forced
        self._totals = {"requests": 0, "delivered": 0, "flagged": 0, "rejected": 0, "stopped": [],
                        "forced": forced}
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
        if not self._sending and self._has_sendable(companion):
            self._sending = True
            emit(self.sendStarted, forced and first)
            self._publish()
        try:
            reports = companion.send_round(force=forced)
        except CompanionError as exc:
            emit(self.failed, CommandError("send", str(exc)))
            self._finish()
            return
        except Exception as exc:
            log.exception("send round failed")
            emit(self.failed, CommandError("send", f"internal error ({type(exc).__name__})", True))
            self._finish()
            return
        progressed = False
        for report in reports.values():
            for key in ("requests", "delivered", "flagged", "rejected"):
                self._totals[key] += getattr(report, key)
            if report.stopped:
                self._totals["stopped"].append(f"{report.backend}: {report.stopped}")
            progressed = progressed or (report.requests > 0 and not report.stopped)
        if progressed and not self._stop.is_set() and (not self._paused or self._totals["forced"]):
            self._publish()
            emit(self._next_round)
            return
        self._finish()

    def _has_sendable(self, companion: Companion) -> bool:
        if companion.why_not_sending():
            return False
        return sum(companion.outbox.counts().values()) > 0

    def _finish(self) -> None:
        was_sending = self._sending
        self._draining = False
        self._sending = False
        totals = self._totals
        self._publish()  # the new state first, so sendFinished's receivers see it
        if was_sending or totals.get("requests"):
            remaining = 0
            if self.companion is not None:
                remaining = sum(self.companion.outbox.counts().values())
            emit(self.sendFinished, SendSummary(
                forced=bool(totals.get("forced")), requests=totals.get("requests", 0),
                delivered=totals.get("delivered", 0), flagged=totals.get("flagged", 0),
                rejected=totals.get("rejected", 0), stopped=tuple(totals.get("stopped", [])),
                remaining=remaining,
            ))

    # -- commands ---------------------------------------------------------------------------

    @Slot(object)
    def track(self, request: dict[str, Any]) -> None:
        """Accept one event (``name``, ``kind``, ``value``, ``payload``)."""
        self._run("track", lambda c: emit(self.tracked, c.track(
            request["name"], kind=request["kind"], value=request["value"],
            payload=request.get("payload"))))

    @Slot(object)
    def grant(self, categories: list[str] | None) -> None:
        """Store a grant (None: all categories) and send soon."""
        def op(c: Companion) -> None:
            ids = c.grant(categories)
            emit(self.consentChanged, ConsentResult(True, tuple(ids)))
            emit(self._kick)
        self._run("grant", op)

    def interrupt_sending(self) -> None:
        """Thread-safe: end the round in progress before its next request (a revoke is coming).

        The revoke itself runs on this thread after the round; without this, a long round would
        keep sending the category the user just said no to.
        """
        companion = self.companion
        if companion is not None:
            for sender in companion.senders.values():
                sender.interrupt.set()

    @Slot(object)
    def revoke(self, categories: list[str] | None) -> None:
        """Store a denial (None: all) and delete what is queued of those categories."""
        def op(c: Companion) -> None:
            try:
                ids, deleted = c.revoke(categories)
            finally:
                for sender in c.senders.values():
                    sender.interrupt.clear()
            emit(self.consentChanged, ConsentResult(False, tuple(ids), deleted))
        self._run("revoke", op)

    @Slot(int, bool, object, int)
    def preview(self, token: int, reveal: bool, granted: object, limit: int) -> None:
        """Build the exact requests (``granted``: hypothetical categories or None)."""
        cats = None if granted is None else tuple(granted)  # type: ignore[arg-type]
        self._run("preview", lambda c: emit(self.previewReady, PreviewResult(
            token, reveal, cats, tuple(c.preview(reveal=reveal, limit=limit, granted=cats)))))

    @Slot()
    def status(self) -> None:
        """Emit ``statusReady`` with ``Companion.status()``."""
        self._run("status", lambda c: emit(self.statusReady, c.status()))

    @Slot(object)
    def history(self, limit: int | None) -> None:
        """Emit ``historyReady`` with the newest entries."""
        self._run("history", lambda c: emit(self.historyReady, list(c.history(limit))))

    @Slot(str)
    def export_history(self, path: str) -> None:
        """Write every history entry (no limit) to ``path`` as ``history --json`` prints it."""
        from app.service.consent_view import history_json

        def op(c: Companion) -> None:
            entries = list(c.history(None))
            try:
                Path(path).write_text(history_json(entries) + "\n", encoding="utf-8")
            except OSError as exc:
                emit(self.historyExported, HistoryExport(path, 0, str(exc.strerror or exc)))
                return
            emit(self.historyExported, HistoryExport(path, len(entries)))
        self._run("export", op)

    @Slot()
    def consent_view(self) -> None:
        """Emit ``consentViewReady`` with the categories and decisions."""
        from app.service.consent_view import version_changed

        self._run("consent", lambda c: emit(self.consentViewReady, ConsentView(
            tuple(c.consent.states()), c.consent.do_not_track, version_changed(c),
            c.config.consent.version)))

    @Slot(str, object)
    def license_op(self, op: str, arg: object) -> None:
        """``info``, ``reveal``, ``set`` (arg: the raw key), ``clear``, ``verify``, ``activate``,
        ``deactivate``; always answered with ``licenseReady``."""
        companion = self.companion
        if companion is None:
            return
        service = self.license
        if service is None:
            emit(self.licenseReady, LicenseInfo(
                False, companion.config.product.name,
                user_identifier=self._user_identifier(companion),
                error="license management is not available in this build"))
            return
        revealed, error, notice, seat_kept, bug = "", "", "", False, False
        try:
            if op == "set":
                new_key = normalise_key(str(arg))  # refuse garbage before touching the seat
                notice, seat_kept = self._free_seat(service, new_key)
                service.set_key(new_key)
                try:
                    # The button says "Save and activate": take the seat, and the user learns
                    # at once whether the server accepts the key.
                    service.activate()
                except CompanionError as exc:
                    log.info("activate after set: %s", exc)
            elif op == "clear":
                notice, seat_kept = self._free_seat(service, None)
                service.clear_key()
            elif op in ("verify", "activate", "deactivate"):
                getattr(service, op)()
            elif op == "reveal":
                revealed = service.key() or ""
        except CompanionError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("license %s failed", op)
            error = f"internal error ({type(exc).__name__}); see the log file"
            bug = True
        self._probe_keyring()
        info = self._license_info(companion, revealed, error)
        emit(self.licenseReady, dataclasses.replace(info, notice=notice, seat_kept=seat_kept,
                                                    internal_error=bug))
        self._publish()

    def _free_seat(self, service: LicenseServiceLike, new_key: str | None) -> tuple[str, bool]:
        """Before the stored key is replaced or removed, free the seat it holds here.

        Without this the old key's seat stays taken on the server with no key left on this
        computer to free it. Returns ``(notice, seat_kept)`` for the window.

        Raises:
            KeyringUnavailableError: the stored key cannot be read (nothing was changed).
        """
        old = service.key()
        if not old or old == new_key:
            return "", False
        status = service.cached_status(check_key=False)
        holds_seat = status.state == VALID or (status.state == UNKNOWN
                                               and status.last_state == VALID)
        if not holds_seat:
            return "", False
        answer = service.deactivate()
        masked = mask_secret(old)
        if answer.ok:
            said = f"{answer.code} {answer.message}".strip()
            return (f"This computer's seat for the previous key ({masked}) was freed "
                    f"(the license server answered: {said})."), False
        why = answer.problem or f"the license server answered {answer.code} {answer.message}"
        return (f"This computer's seat for the previous key ({masked}) could not be freed "
                f"({why.strip()}), so it stays taken. To free it later, enter that key again "
                "and use \"Free this computer's seat\" while online, or release it on your "
                "account page at the vendor."), True

    # -- helpers ----------------------------------------------------------------------------

    def _run(self, op: str, fn: Callable[[Companion], None]) -> None:
        companion = self.companion
        if companion is None:
            emit(self.failed, CommandError(op, "the companion is not running"))
            return
        try:
            fn(companion)
        except CompanionError as exc:
            emit(self.failed, CommandError(op, str(exc)))
        except Exception as exc:
            log.exception("%s failed", op)
            emit(self.failed, CommandError(op, f"internal error ({type(exc).__name__}); "
                                              "see the log file", True))
        self._publish()

    def _user_identifier(self, companion: Companion) -> str:
        try:
            return companion.identity().user_identifier
        except CompanionError:
            return ""

    def _license_info(self, companion: Companion, revealed: str = "", error: str = "") -> LicenseInfo:
        service = self.license
        if service is None:
            return LicenseInfo(False, companion.config.product.name)
        key = ""
        status = None
        try:
            key = service.key() or ""
            # The key was just read: a second keyring read (a second timeout when it hangs)
            # would add nothing.
            status = service.cached_status(check_key=False)
        except CompanionError as exc:
            error = error or str(exc)
        state = LicenseState.NO_KEY if not key else (status.state if status else
                                                     LicenseState.UNKNOWN)
        return LicenseInfo(
            available=True,
            product=companion.config.product.name,
            masked_key=mask_secret(key),
            revealed_key=revealed,
            state=state,
            message=status.message if key and status else "",
            code=status.code if key and status else None,
            checked_at=status.checked_at if key and status else None,
            user_identifier=self._user_identifier(companion),
            error=error,
        )

    def _probe_keyring(self) -> None:
        """Whether the keyring still answers (a keyring that is gone needs the user)."""
        self._keyring_checked = self._clock()
        if self.license is None:
            return
        try:
            self.license.key()
        except CompanionError as exc:
            self._keyring_problem = str(exc)
        except Exception as exc:  # jeepney/D-Bus errors are environment failures too
            self._keyring_problem = f"the keyring did not answer ({type(exc).__name__})"
        else:
            self._keyring_problem = ""

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
        return tray_snapshot(companion.status(read_keyring=False), sending=self._sending,
                             paused=self._paused, keyring=self._keyring_problem)


class WorkerController(_Results):
    """The GUI thread's handle on the worker: starts the thread, forwards commands, re-emits.

    Every result signal is re-emitted from this object on the GUI thread, so widgets can connect
    plain methods and lambdas without caring about threads.

    Args:
        companion_factory: builds the ``Companion`` (called on the worker thread).
        license_factory: builds the license service (called on the worker thread), or None.
        interval: seconds between timer rounds.
        parent: Qt parent.
        sending: run the send timer (see ``CompanionWorker``).

    Signals:
        ready(Snapshot), fatal(str), stateChanged(Snapshot), sendStarted(bool),
        sendFinished(SendSummary), previewReady(PreviewResult), statusReady(CompanionStatus),
        historyReady(list), historyExported(HistoryExport), consentChanged(ConsentResult),
        tracked(TrackResult),
        licenseReady(LicenseInfo), consentViewReady(ConsentView), failed(CommandError),
        stopped(): as ``CompanionWorker``.
    """

    # commands, queued to the worker thread
    _start = Signal()
    _stop = Signal()
    _send_now = Signal()
    _paused = Signal(bool)
    _track = Signal(object)
    _grant = Signal(object)
    _revoke = Signal(object)
    _preview = Signal(int, bool, object, int)
    _status = Signal()
    _history = Signal(object)
    _export_history = Signal(str)
    _license = Signal(str, object)
    _consent_view = Signal()

    def __init__(
        self,
        companion_factory: CompanionFactory,
        license_factory: LicenseFactory | None = None,
        interval: float = SEND_INTERVAL,
        parent: QObject | None = None,
        sending: bool = True,
    ) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("companion-worker")
        self.worker = CompanionWorker(companion_factory, license_factory, interval,
                                      sending=sending)
        self.worker.moveToThread(self._thread)
        self.snapshot: Snapshot | None = None
        self._tokens = 0
        self._running = False
        for name in RESULT_SIGNALS:
            getattr(self.worker, name).connect(getattr(self, name))
        self.ready.connect(self._remember)
        self.stateChanged.connect(self._remember)
        w = self.worker
        self._start.connect(w.start)
        self._stop.connect(w.stop)
        # The thread quits only once stop() has run (closing the companion on its own thread).
        # Direct: stopped is emitted on the worker thread while the GUI thread waits in wait().
        w.stopped.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._send_now.connect(w.send_now)
        self._paused.connect(w.set_paused)
        self._track.connect(w.track)
        self._grant.connect(w.grant)
        self._revoke.connect(w.revoke)
        self._preview.connect(w.preview)
        self._status.connect(w.status)
        self._history.connect(w.history)
        self._export_history.connect(w.export_history)
        self._license.connect(w.license_op)
        self._consent_view.connect(w.consent_view)

    def _remember(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; ``ready`` (or ``fatal``) follows."""
        self._thread.start()
        self._running = True
        emit(self._start)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop the timer, let an in-flight request end, close, join; True if it did in time.

        When False, a request was still waiting for its answer: its events are still in the
        outbox (they leave it only after a settled answer), so the caller may exit anyway.
        """
        if not self._running:
            return True
        self._running = False
        self.worker.request_stop()
        emit(self._stop)  # runs after the slot in progress; its stopped() quits the thread
        done = self._thread.wait(int(timeout * 1000))
        if not done:
            log.warning("the worker did not stop within %.1f s (a request is in flight)", timeout)
            self._thread.quit()  # end the thread as soon as that request returns
            # Qt aborts the process if a QThread object is destroyed while its thread runs:
            # keep it (and its worker) alive until the process ends.
            _STILL_RUNNING.append((self._thread, self.worker))
        return bool(done)

    @property
    def paused(self) -> bool:
        """Whether the user paused sending (as last reported)."""
        return bool(self.snapshot and self.snapshot.paused)

    # -- commands (return at once; answers arrive as signals) --------------------------------

    def send_now(self) -> None:
        """Send what is allowed now, past our backoff."""
        emit(self._send_now)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume timer sending."""
        emit(self._paused, paused)

    def track(self, name: str, kind: str, value: object, payload: dict[str, Any] | None = None
              ) -> None:
        """Enqueue an event (answer: ``tracked`` or ``failed``)."""
        emit(self._track, {"name": name, "kind": kind, "value": value, "payload": payload})

    def grant(self, categories: list[str] | None = None) -> None:
        """Grant categories (None: all)."""
        emit(self._grant, categories)

    def revoke(self, categories: list[str] | None = None) -> None:
        """Revoke categories (None: all); a round in progress stops before its next request."""
        self.worker.interrupt_sending()
        emit(self._revoke, categories)

    def preview(self, reveal: bool = False, granted: Iterable[str] | None = None,
                limit: int = 20) -> int:
        """Ask for the exact requests; returns the token the ``PreviewResult`` will carry."""
        self._tokens += 1
        emit(self._preview, self._tokens, reveal, None if granted is None else list(granted), limit)
        return self._tokens

    def status(self) -> None:
        """Ask for ``Companion.status()``."""
        emit(self._status)

    def history(self, limit: int | None = 500) -> None:
        """Ask for the newest history entries."""
        emit(self._history, limit)

    def export_history(self, path: str) -> None:
        """Write the whole history (not just what a window loaded) to ``path``
        (answer: ``historyExported``)."""
        emit(self._export_history, path)

    def consent_view(self) -> None:
        """Ask for the consent categories and decisions (``consentViewReady``)."""
        emit(self._consent_view)

    def license(self, op: str, arg: str | None = None) -> None:
        """A license operation: info, reveal, set (arg: raw key), clear, verify, activate,
        deactivate. Answer: ``licenseReady``."""
        emit(self._license, op, arg)


__all__ = [
    "CommandError",
    "CompanionWorker",
    "ConsentResult",
    "ConsentView",
    "HistoryExport",
    "LicenseInfo",
    "PreviewResult",
    "SendSummary",
    "TrackResult",
    "WorkerController",
]
