"""At most one run per interval, whatever the number of requests: a ``wake`` flood costs one pass.

A host may send ``{"op":"wake"}`` thousands of times a second; each would otherwise start a
pass of the tray's sender (the next send time worked out from the database, a round, the
keyring) and a take of the inbox. ``Coalesced`` runs the first request at once, and any
request that arrives while a run is going on or within ``every`` seconds of the last one only
leaves one pending run for the end of the interval (a one-shot timer, started only while
requests arrive), so nothing asked for is forgotten and nothing polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Coalesced:
    """Calls ``run`` at most once per ``every`` seconds, never twice at the same time.

    Args:
        run: what one pass does (thread-safe, returns soon).
        every: seconds between the starts of two passes.
        clock: monotonic seconds (tests may hold it still).
    """

    def __init__(self, run: Callable[[], object], every: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._run = run
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None  # when the last pass started
        self._running = False
        self._pending = False  # one pass is due once the running one ends or the interval does
        self._timer: threading.Timer | None = None
        self.asked = 0  # requests (tests and benchmarks)
        self.runs = 0  # passes started

    def __call__(self) -> None:
        """Ask for a pass: now if none ran within ``every`` seconds, else one at the end."""
        with self._lock:
            self.asked += 1
            if self._pending:
                return
            now = self._clock()
            if self._running or (self._last is not None and now < self._last + self.every):
                self._pending = True
                if not self._running:
                    self._arm(now)
                return
            self._start(now)
        self._pass()

    def cancel(self) -> None:
        """Forget a pending pass (at shutdown)."""
        with self._lock:
            self._pending = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _start(self, now: float) -> None:
        self._last = now
        self._running = True
        self.runs += 1

    def _arm(self, now: float) -> None:
        delay = 0.0 if self._last is None else max(0.0, self._last + self.every - now)
        self._timer = threading.Timer(delay, self._due)
        self._timer.daemon = True
        self._timer.start()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
            if not self._pending or self._running:
                return
            self._pending = False
            self._start(self._clock())
        self._pass()

    def _pass(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("a coalesced pass failed (it runs again when asked)")
        finally:
            with self._lock:
                self._running = False
                if self._pending and self._timer is None:
                    self._arm(self._clock())
