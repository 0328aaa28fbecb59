"""Exponential backoff with equal jitter: ~10 s, doubling, capped at 5 min, reset on success."""

from __future__ import annotations

import random
from collections.abc import Callable

BASE = 10.0
CAP = 300.0


def backoff_delay(failures: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (1-based).

    Equal jitter: half of the window is fixed and half random, so clients that failed together
    spread out but never retry sooner than half the nominal delay (full jitter, a delay anywhere
    in the window, could retry at once).
    """
    if failures <= 0:
        return 0.0
    window = min(CAP, BASE * 2 ** (failures - 1))
    return float(window / 2 + rand() * window / 2)
