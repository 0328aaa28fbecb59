"""Stopping a child process the same way everywhere: SIGTERM, a bounded wait, then SIGKILL."""

from __future__ import annotations

import contextlib
import signal
import subprocess


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
