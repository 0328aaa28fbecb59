"""Run a call on a worker thread; hand its result (or its error) to a callback on the caller's.

The one mechanism behind every command the windows give the worker, instead of a declared,
connected and wrapped signal per command. A ``TaskRunner`` lives on the thread that owns a
resource that must stay there (the ``Companion``: its SQLite connection is per thread) and
runs ``call(resource)`` for whoever asks.

Guarantees:
    * ``run`` may be called from any thread and returns at once.
    * Calls run one at a time on the runner's thread, in the order ``run`` was called (they
      share that thread's one event queue with everything else posted there).
    * Exactly one of ``on_done(result)`` / ``on_error(CommandError)`` is called, later, on the
      thread that called ``run`` (it needs a running Qt event loop), through a queued signal:
      never inside ``run`` and never on the runner's thread unless that is the caller's.
    * When the callback's receiver is gone before the answer arrives (``context``, or the
      object of a bound-method callback, is a destroyed Qt object: a closed window), no
      callback is called.
    * Before ``open`` calls are held (and run in order once it is called); after ``close`` they
      are answered with ``on_error`` ("not running") without running.

Another thread with its own resource: make a ``TaskRunner`` a child of the object that owns the
resource, move that object to a ``ResourceThread``, ``open()`` the runner once the thread runs,
``close()`` it before stopping the thread, and end with ``join(thread, owner, timeout)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.core.results import CommandError, command_error
from app.tray.qt_emit import emit

log = logging.getLogger(__name__)

S = TypeVar("S")
T = TypeVar("T")
NOT_RUNNING = "the companion is not running"
_STILL_RUNNING: list[tuple[QThread, QObject]] = []  # threads that outlived join()


class ResourceThread(QThread):
    """A ``QThread`` whose Python thread state lives as long as the thread does.

    Why: a plain ``QThread`` runs its event loop in C++, and each slot PySide calls on it gets a
    Python thread state of its own for that one call, so ``threading.local`` values do not last
    from one call to the next. The state database keeps one SQLite connection per thread in a
    ``threading.local``: on a plain ``QThread`` every command, wake-up and round opened, set up
    and closed a new connection. Running the event loop from Python keeps one state, and with
    it the thread's connection, for the thread's whole life.
    """

    def run(self) -> None:
        self.exec()


class _Courier(QObject):
    """Carries answers to the thread it lives on; one per thread that calls ``run``."""

    arrived = Signal(object, object, object)  # _Task, result, CommandError | None

    def __init__(self) -> None:
        super().__init__()
        # Queued even when emitted on our own thread: a callback never runs inside run().
        self.arrived.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object, object, object)
    def _deliver(self, task: _Task, result: object, error: CommandError | None) -> None:
        callback = task.on_done if error is None else task.on_error
        owner = task.context if task.context is not None else getattr(callback, "__self__", None)
        if isinstance(owner, QObject) and not shiboken6.isValid(owner):
            log.debug("%s: its receiver was destroyed; answer dropped", task.op)
        elif error is None:
            if task.on_done is not None:
                task.on_done(result)
        elif task.on_error is not None:
            task.on_error(error)
        else:
            log.warning("%s failed: %s", error.op, error.message)


@dataclass(frozen=True)
class _Task:
    call: Callable[[Any], Any]
    on_done: Callable[[Any], object] | None
    on_error: Callable[[CommandError], object] | None
    op: str
    context: QObject | None
    courier: _Courier


class TaskRunner(QObject, Generic[S]):
    """Runs calls with a resource on the thread this object lives on.

    Args:
        resource: returns the resource, read on the runner's thread when a call runs; None
            means it is not open (failed to open, or closed): the call is answered "not running".
        after_each: called on the runner's thread after every call (e.g. publish new state).
        parent: Qt parent; a child moves to the parent's thread with it.
    """

    _post = Signal(object)

    def __init__(self, resource: Callable[[], S | None],
                 after_each: Callable[[], None] | None = None, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self._resource = resource
        self._after_each = after_each
        self._post.connect(self._execute, Qt.ConnectionType.QueuedConnection)
        self._lock = threading.Lock()
        self._state = "held"  # "open", "closed"
        self._held: list[_Task] = []
        self._couriers: dict[int, _Courier] = {}

    def run(self, call: Callable[[S], T], on_done: Callable[[T], object] | None = None,
            on_error: Callable[[CommandError], object] | None = None, *, op: str = "",
            context: QObject | None = None) -> None:
        """Run ``call(resource)`` on the runner's thread; answer on the calling thread.

        Args:
            call: runs on the runner's thread; may block (disk, keyring, network).
            on_done: receives the result (None: dropped).
            on_error: receives ``CommandError(op, str(exc))`` for a ``CompanionError``; any
                other exception is logged with its traceback and arrives with ``bug=True``.
                None: the error is logged.
            op: a name for the log and ``CommandError.op`` (default: ``call``'s name).
            context: whose answer it is; destroyed before it arrives means no callback.
                Default: the object of a bound-method callback.
        """
        task = _Task(call, on_done, on_error, op or getattr(call, "__name__", "call"), context,
                     self._courier())
        with self._lock:  # posted under the lock: nothing slips in after close() or before open()
            if self._state == "held":
                self._held.append(task)
                return
            if self._state == "open":
                emit(self._post, task)
                return
        emit(task.courier.arrived, task, None, CommandError(task.op, NOT_RUNNING))

    def open(self) -> None:
        """Start running calls, the held ones first."""
        with self._lock:
            self._state = "open"
            held, self._held = self._held, []
            for task in held:  # under the lock: no call given meanwhile overtakes them
                emit(self._post, task)

    def close(self) -> None:
        """Answer every later call "not running" (calls already posted still run)."""
        with self._lock:
            self._state = "closed"
            held, self._held = self._held, []
        for task in held:
            emit(task.courier.arrived, task, None, CommandError(task.op, NOT_RUNNING))

    def _courier(self) -> _Courier:
        ident, current = threading.get_ident(), QThread.currentThread()
        with self._lock:
            courier = self._couriers.get(ident)
            if courier is None or courier.thread() != current:  # a thread id can be reused
                courier = self._couriers[ident] = _Courier()  # made here: lives on this thread
        return courier

    @Slot(object)
    def _execute(self, task: _Task) -> None:
        resource = self._resource()
        result: object = None
        error: CommandError | None = None
        if resource is None:
            error = CommandError(task.op, NOT_RUNNING)
        else:
            try:
                result = task.call(resource)
            except Exception as exc:
                error = command_error(task.op, exc)
        emit(task.courier.arrived, task, result, error)
        if self._after_each is not None:
            self._after_each()


def join(thread: QThread, owner: QObject, timeout: float) -> bool:
    """Wait at most ``timeout`` seconds for ``thread`` to end; True if it did.

    When it did not (a call is still blocked, e.g. waiting for a server), the thread is asked to
    quit as soon as that call returns, and it and ``owner`` (the object living on it) are kept
    alive until the process ends: Qt aborts the process if a running ``QThread`` is destroyed.
    """
    if thread.wait(int(timeout * 1000)):
        return True
    thread.quit()
    _STILL_RUNNING.append((thread, owner))
    return False
