"""The host endpoint's writer thread: group commit, and the chore (the inbox) between groups.

One thread writes everything hosts hand over, so events arriving together from many
connections are committed in one transaction (``run_commits``: one ``Database.write()`` around
the group, each event a savepoint inside it) and each request is answered only after that
commit. It sleeps on its queue while there is nothing to do: no timeout, no polling.

Why the chore runs here: ingesting the inbox writes events too; on this thread it never
competes with a group for the database, and it waits for no lock of the I/O thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from app.door.dispatch import Commit, HostSide, encode_answer, run_commits

log = logging.getLogger(__name__)

MAX_GROUP = 1000  # events per group commit (a single track never waits behind more)
_CHORE = object()  # run the chore now
_STOP = object()  # commit what is queued, then end

Deliver = Callable[[Sequence[tuple[Any, bytes]]], None]


class HostWriter:
    """Commits queued ``Commit``\\ s in groups on its own thread and hands back the answers.

    Args:
        host: what commits (``HostSide.commit``, called on this thread only).
        deliver: receives ``(token, answer line)`` pairs after each group's commit (called on
            this thread; must return at once).
        chore: run on this thread at start and whenever ``run_chore_soon`` asks.
    """

    def __init__(self, host: HostSide, deliver: Deliver,
                 chore: Callable[[], object] | None = None) -> None:
        self.host = host
        self.deliver = deliver
        self.chore = chore
        self._queue: queue.Queue[Any] = queue.Queue()  # (token, Commit), _CHORE, _STOP
        self._chore_pending = threading.Event()
        self._stopping = threading.Event()
        self.chores = 0  # chore runs finished (tests: nothing runs it while idle)
        self.thread = threading.Thread(target=self._loop, name="host-writer", daemon=True)

    def start(self) -> None:
        """Start the thread; the chore runs first."""
        self.run_chore_soon()
        self.thread.start()

    def submit(self, token: Any, work: Commit) -> None:
        """Queue events to commit; ``token`` comes back with the answer."""
        self._queue.put((token, work))

    def run_chore_soon(self) -> None:
        """Run the chore at the next moment between groups (thread-safe; at most one pending)."""
        if self.chore is not None and not self._chore_pending.is_set():
            self._chore_pending.set()
            self._queue.put(_CHORE)

    def stop(self, timeout: float) -> None:
        """Commit what was queued before this call, then end (waits at most ``timeout``)."""
        self._stopping.set()
        self._queue.put(_STOP)
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run_chore(self) -> None:
        self._chore_pending.clear()
        if self.chore is None or self._stopping.is_set():
            return
        try:
            self.chore()
        except Exception:
            log.exception("host endpoint: the writer's chore failed (tried again when asked)")
        finally:
            self.chores += 1

    def _loop(self) -> None:
        started = getattr(self.host, "writer_started", None)  # optional: see CompanionHost
        if started is not None:
            started()
        try:
            self._serve()
        finally:
            stopping = getattr(self.host, "writer_stopping", None)
            if stopping is not None:
                stopping()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()  # sleeps until there is work
            if first is _CHORE:
                self._run_chore()
                continue
            if first is _STOP:
                if self._queue.empty():
                    return
                self._queue.put(_STOP)  # commit what was read before the stop, then end
                continue
            group = [first]
            count = len(first[1].items)
            while count < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._queue.put(more)
                    break
                if more is _CHORE:
                    self._chore_pending.clear()
                    self.run_chore_soon()  # after this group
                    break
                group.append(more)
                count += len(more[1].items)
            answers = run_commits(self.host, [work for _token, work in group])
            self.deliver([(token, encode_answer(answer))
                          for (token, _work), answer in zip(group, answers, strict=True)])
