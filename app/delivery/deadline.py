"""A total deadline for one blocking network exchange, kept by one watchdog thread.

Socket timeouts bound each read, not the whole: a peer sending one byte just before every
timeout never trips them. An ``Exchange`` is entered on the thread doing the I/O; every socket
registered with ``watch`` while it runs is shut down when its deadline passes, which wakes the
blocked read at once (it sees the end of the stream or an error). The caller then checks
``expired`` and reports the deadline, not whatever the cut connection looked like.

A ``Watchdog`` (one daemon thread, started on first use) serves every exchange of its owner,
e.g. one HTTP client; ``stop`` ends the thread.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

_current = threading.local()


class Exchange:
    """One exchange's deadline; use as a context manager on the thread that does the I/O.

    Args:
        seconds: how long the whole exchange may take from ``__enter__``.
        watchdog: the thread that keeps the time.
    """

    def __init__(self, seconds: float, watchdog: Watchdog) -> None:
        self.seconds = seconds
        self.watchdog = watchdog
        self.expires = 0.0
        self.expired = False
        self._finished = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._to_close: list[socket.socket] = []

    def remaining(self) -> float:
        """Seconds left (negative once expired)."""
        return self.expires - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        with self._lock:
            if self._finished:
                return
            if self.expired:
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def release(self, sock: socket.socket) -> bool:
        """Close ``sock`` when the exchange ends if it is watched; False if it is not.

        A connection closed in the middle of an exchange (HTTP/1.0: right after the headers)
        is still read through; its socket must stay under the deadline until the end.
        """
        with self._lock:
            if self._finished or not any(s is sock for s in self._sockets):
                return False
            self._to_close.append(sock)
            return True

    def expire(self) -> None:
        """The deadline has passed: cut every watched socket (called by the watchdog)."""
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    @property
    def finished(self) -> bool:
        """Whether the exchange is over (the watchdog may forget it)."""
        return self._finished

    def __enter__(self) -> Exchange:
        self.expires = time.monotonic() + self.seconds
        self._outer = getattr(_current, "exchange", None)
        _current.exchange = self
        self.watchdog.add(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self._finished = True
            self._sockets.clear()
            to_close, self._to_close = self._to_close, []
        for sock in to_close:
            sock.close()
        _current.exchange = self._outer


def watch(sock: socket.socket) -> None:
    """Put ``sock`` under the deadline of the exchange running on this thread, if any."""
    exchange: Exchange | None = getattr(_current, "exchange", None)
    if exchange is not None:
        exchange.watch(sock)


def when_sent(callback: Callable[[], None] | None) -> None:
    """Call ``callback`` on this thread once the next request has been written (None: forget it).

    The sender starts reading its next batch from here: from then on this thread only waits
    for the answer, without the GIL, so the work overlaps the server's latency instead of
    competing with the request for the interpreter.
    """
    _current.on_sent = callback


def sent() -> None:
    """The request is written (the HTTP connection calls this): run the ``when_sent`` callback."""
    callback = getattr(_current, "on_sent", None)
    if callback is not None:
        _current.on_sent = None
        callback()


def release(sock: socket.socket) -> None:
    """Close ``sock`` now, or when the exchange watching it on this thread ends."""
    exchange: Exchange | None = getattr(_current, "exchange", None)
    if exchange is None or not exchange.release(sock):
        sock.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing left to wake


class Watchdog:
    """Expires exchanges in deadline order; sleeps until the nearest one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Exchange]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, exchange: Exchange) -> None:
        """Keep ``exchange``'s deadline (starts the thread on first use)."""
        with self._cond:
            self._stopped = False  # used again after stop(), as a closed session may be
            heapq.heappush(self._heap, (exchange.expires, next(self._order), exchange))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadline",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][2] is exchange:
                self._cond.notify()  # an earlier deadline than the one being waited for

    def stop(self) -> None:
        """End the thread; exchanges still running are expired now."""
        with self._cond:
            self._stopped = True
            pending = [item[2] for item in self._heap]
            self._heap.clear()
            self._cond.notify()
            thread, self._thread = self._thread, None
        for exchange in pending:
            exchange.expire()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                expires, _, exchange = self._heap[0]
                delay = expires - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            exchange.expire()

