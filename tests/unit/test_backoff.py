"""Backoff after failures: equal jitter, doubling from ~10 s, capped at 5 minutes."""

import pytest

from app.delivery.backoff import BASE, CAP, backoff_delay


@pytest.mark.parametrize(("failures", "window"), [(1, 10), (2, 20), (3, 40), (6, 300), (50, 300)])
def test_half_fixed_half_random(failures, window):
    assert BASE == 10 and CAP == 300
    assert backoff_delay(failures, rand=lambda: 0.0) == window / 2  # never sooner than half
    assert backoff_delay(failures, rand=lambda: 0.5) == window * 3 / 4
    assert backoff_delay(failures, rand=lambda: 1.0) == window


def test_clients_that_failed_together_spread_out():
    delays = {backoff_delay(3, rand=lambda r=r: r / 10) for r in range(10)}
    assert len(delays) == 10 and min(delays) == 20 and max(delays) < 40


@pytest.mark.parametrize("failures", [0, -1])
def test_no_failure_no_wait(failures):
    assert backoff_delay(failures) == 0.0
