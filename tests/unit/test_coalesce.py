"""``Coalesced``: the first request runs at once, the rest of an interval leave one run for its
end, a request during a run is not lost, and nothing runs when nothing was asked."""

from __future__ import annotations

import threading
import time

from app.door.coalesce import Coalesced
from tests.procs import wait_for


def test_requests_within_the_interval_leave_one_run_at_its_end():
    runs: list[float] = []
    coalesced = Coalesced(lambda: runs.append(time.monotonic()), every=0.3)
    started = time.monotonic()
    for _ in range(500):
        coalesced()
    assert len(runs) == 1 and runs[0] - started < 0.1  # the first at once
    assert wait_for(lambda: len(runs) == 2, timeout=2)
    assert runs[1] - runs[0] >= 0.29
    time.sleep(0.5)
    assert len(runs) == 2 and coalesced.asked == 500 and coalesced.runs == 2  # none more


def test_a_request_during_a_run_is_run_after_it_never_at_the_same_time():
    inside = threading.Event()
    release = threading.Event()
    active = [0]
    most = [0]
    runs = [0]

    def run() -> None:
        active[0] += 1
        most[0] = max(most[0], active[0])
        runs[0] += 1
        if runs[0] == 1:
            inside.set()
            release.wait(5)
        active[0] -= 1

    coalesced = Coalesced(run, every=0.05)
    first = threading.Thread(target=coalesced)
    first.start()
    assert inside.wait(5)
    time.sleep(0.1)  # past the interval, but the first run still goes on
    coalesced()
    coalesced()
    assert runs[0] == 1
    release.set()
    first.join(5)
    assert wait_for(lambda: runs[0] == 2, timeout=2)
    time.sleep(0.2)
    assert runs[0] == 2 and most[0] == 1


def test_a_failing_run_is_logged_and_the_next_request_runs(caplog):
    calls = [0]

    def run() -> None:
        calls[0] += 1
        raise RuntimeError("boom")

    coalesced = Coalesced(run, every=0.0)
    coalesced()
    coalesced()
    assert calls[0] == 2 and "coalesced pass failed" in caplog.text
