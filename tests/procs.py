"""Child processes and threads, the same way everywhere: stopping one (SIGTERM, a bounded wait,
then SIGKILL) and waiting for something it does."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from benchmarks import desktop  # the one poll loop, shared with the benchmarks


def terminate(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Ask ``proc`` to quit, give it ``timeout`` seconds, then kill it; never hangs."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition",
             step: float = 0.02) -> Any:
    """Poll ``predicate`` until it gives a true value, and return that value.

    Raises:
        AssertionError: naming ``what``, when ``timeout`` seconds passed first.
    """
    try:
        return desktop.wait_for(predicate, timeout, what, step)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None
