"""Run each backend's sending at the same time, so one stalled server never delays another.

Each backend already allows one request in flight (its sender's lock and send lease); running
the backends side by side keeps that, and a KeyManager that trickles its answer no longer
keeps TelemetryDeck waiting for its turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


def run_each(jobs: Mapping[str, Callable[[], T]],
             on_thread_exit: Callable[[], None] | None = None) -> dict[str, T]:
    """Run every job in its own thread; wait for all; results in the order of ``jobs``.

    One job runs on the calling thread (no thread for nothing). The first exception a job
    raised is raised again here, once every job has ended.

    Args:
        jobs: name -> work.
        on_thread_exit: called at the end of each helper thread, e.g. to close that thread's
            database connection.
    """
    if len(jobs) <= 1:
        return {name: job() for name, job in jobs.items()}
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}

    def run(name: str, job: Callable[[], T]) -> None:
        try:
            results[name] = job()
        except BaseException as exc:  # handed to the caller below
            errors[name] = exc
        finally:
            if on_thread_exit is not None:
                on_thread_exit()

    threads = [threading.Thread(target=run, args=(name, job), name=f"send-{name}", daemon=True)
               for name, job in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in jobs:
        if name in errors:
            raise errors[name]
    return {name: results[name] for name in jobs}
