"""The sender's helper thread: while a request is in flight, the next round is read and built,
and (``PendingStore``) the answer before it is stored.

Why: a request spends most of its time waiting for the answer (the server's latency), and the
waiting thread does not hold the GIL. Reading the next rows (JSON, validation), building their
requests and the masked copies the history keeps costs about as much CPU again; done here while
the socket waits, it is off the path from one answer to the next request. Nothing is sent from
this thread and nothing is marked in flight: the sender does both on its own thread, after the
answer, so the one-request-in-flight rule and the consent check before sending stay where they
were. What is stored here is an answer already received; the sender waits for it before it
looks at the next answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from app.model.wire import PreparedRequest
from app.storage.outbox import QueuedEvent

if TYPE_CHECKING:  # imported with the first job: a round that sends one batch needs none
    from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Work:
    """One request of a round, its outbox rows, and the masked copy its history entry keeps."""

    request: PreparedRequest
    items: list[QueuedEvent]
    history_text: str


@dataclass(frozen=True)
class Round:
    """One batch's requests; ``last_seq`` is the last outbox row read (the next round is past it)."""

    work: list[Work]
    last_seq: int


class Prefetch:
    """One helper thread, made on the first job, for one run of rounds.

    Args:
        name: the thread's name (shown in thread dumps and the tray's wake-up figures).
        on_exit: run on the helper thread before it ends, e.g. to close its database
            connection (connections are per thread).
    """

    def __init__(self, name: str, on_exit: Callable[[], None]) -> None:
        self._name = name
        self._on_exit = on_exit
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, job: Callable[[], T]) -> Future[T]:
        """Start ``job`` on the helper thread; its result (or exception) comes from the future."""
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        return self._pool.submit(job)

    def starter(self, job: Callable[[], T], started: list[Future[T]]) -> Callable[[], None]:
        """A callback that submits ``job`` when called and puts its future in ``started``."""
        return lambda: started.append(self.submit(job))

    def close(self) -> None:
        """Wait for the job still running, clean up on the helper thread, end it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.submit(self._on_exit)
        pool.shutdown(wait=True)


def call_each(calls: list[Callable[[], None]]) -> None:
    """Call each of ``calls`` in order (one ``when_sent`` callback for several jobs)."""
    for call in calls:
        call()


class PendingStore:
    """The last answer's storing, run on the helper thread once the next request is written.

    ``defer(store)`` holds it; ``starter(helper)`` gives the callback that starts it on the
    helper; ``finish()`` waits for it, or runs it here when the next request was never written
    (e.g. its connection failed first), and raises what it raised. Every answer is stored before
    the next one is looked at and before the sender writes anything else, so the history and the
    send state keep the order of the answers.
    """

    def __init__(self) -> None:
        self._store: Callable[[], object] | None = None
        self._running: list[Future[object]] = []

    def defer(self, store: Callable[[], object]) -> None:
        self.finish()
        self._store = store

    def starter(self, helper: Prefetch) -> Callable[[], None]:
        def start() -> None:
            store, self._store = self._store, None
            if store is not None:
                self._running.append(helper.submit(store))
        return start

    def finish(self, quiet: bool = False) -> None:
        store, self._store = self._store, None
        running, self._running = self._running, []
        try:
            if store is not None:
                store()
            for future in running:
                future.result()
        except Exception:
            if not quiet:
                raise
            log.exception("storing an answer failed while the round was failing already")
