"""``run_each``: backends side by side, results in order, errors not swallowed."""

from __future__ import annotations

import threading

import pytest

from app.delivery.parallel import run_each

pytestmark = pytest.mark.timeout(20)


def test_jobs_run_at_the_same_time_and_results_keep_their_order():
    barrier = threading.Barrier(3, timeout=5)  # only passes if all three run at once

    def job(name):
        return lambda: (barrier.wait(), name)[1]

    assert list(run_each({n: job(n) for n in ("c", "a", "b")}).items()) == [
        ("c", "c"), ("a", "a"), ("b", "b")]


def test_a_failing_job_is_raised_after_the_others_finished():
    done = threading.Event()

    def slow():
        done.wait(0.2)
        done.set()
        return 1

    def bad():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_each({"slow": slow, "bad": bad})
    assert done.is_set()


def test_each_helper_thread_cleans_up_and_one_job_stays_on_the_caller():
    exits: list[str] = []
    run_each({"a": lambda: 1, "b": lambda: 2},
             on_thread_exit=lambda: exits.append(threading.current_thread().name))
    assert sorted(exits) == ["send-a", "send-b"]
    caller = threading.current_thread().name
    assert run_each({"only": lambda: threading.current_thread().name},
                    on_thread_exit=exits.append) == {"only": caller}
    assert run_each({}) == {}
