"""What every figure shares: samples and their median and spread, result rows, A/B alternation.

A figure is a function ``(Settings) -> list[Row]``. It imports what it needs from ``app`` inside
the function, so a module renamed elsewhere breaks that one figure (an error row), never the
whole run.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    """How big and how long this run is (``--quick`` shrinks everything)."""

    quick: bool
    runs: int  # A/B pairs for the figures that alternate
    idle_window: float  # seconds of the idle CPU / wake-up window
    track_events: int  # events per in-process track run
    td_sizes: tuple[int, ...]  # TelemetryDeck queue sizes
    naive_td_events: int  # the naive one-event-per-request client posts this many, then scales
    km_events: int
    latency: float  # seconds the receivers wait before every answer
    host_events: int  # per host process
    python: str = sys.executable


def settings(quick: bool, runs: int | None = None) -> Settings:
    """The full run, or the smoke run CI calls (well under two minutes)."""
    if quick:
        return Settings(quick=True, runs=runs or 3, idle_window=10.0, track_events=200,
                        td_sizes=(1000,), naive_td_events=100, km_events=50, latency=0.020,
                        host_events=100)
    return Settings(quick=False, runs=runs or 5, idle_window=60.0, track_events=500,
                    td_sizes=(1000, 10000), naive_td_events=1000, km_events=200,
                    latency=0.020, host_events=1000)


@dataclass
class Stat:
    """The median of several samples and their spread (min..max)."""

    samples: list[float]
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": min(self.samples), "max": max(self.samples),
                "n": len(self.samples), "unit": self.unit, "samples": self.samples}

    def text(self) -> str:
        low, high = min(self.samples), max(self.samples)
        if len(self.samples) == 1:
            return f"{fmt(self.median)} {self.unit} (n=1)"
        return f"{fmt(self.median)} {self.unit} [{fmt(low)}–{fmt(high)}, n={len(self.samples)}]"


def fmt(value: float) -> str:
    """Three significant figures, no exponent for the sizes we print."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:#.3g}".rstrip(".")


@dataclass
class Row:
    """One line of the table: a figure, our value, its baseline, their ratio and the goal.

    ``status`` is "ok", "error", "not available", "not built" or "skipped"; only "ok" rows
    carry numbers. ``higher_is_better`` flips how the ratio reads (throughput).
    """

    figure: str
    ours: Stat | None = None
    baseline: Stat | None = None
    baseline_name: str = ""
    goal: str = ""
    status: str = "ok"
    note: str = ""
    ratio_override: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ratio_override is not None:
            return self.ratio_override
        if self.ours is None or self.baseline is None or self.baseline.median == 0:
            return None
        return self.ours.median / self.baseline.median

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ours"] = self.ours.as_dict() if self.ours else None
        data["baseline"] = self.baseline.as_dict() if self.baseline else None
        data["ratio"] = self.ratio
        data.pop("ratio_override")
        return data


def failed(figure: str, status: str, note: str, goal: str = "") -> Row:
    """A row without numbers: the figure could not run, and why."""
    return Row(figure, status=status, note=note, goal=goal)


def alternate(runs: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[list, list]:
    """Run ``a`` and ``b`` in turns (A B B A A B ...), so drift in the machine's load hits both."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(runs):
        if i % 2 == 0:
            xs.append(a())
            ys.append(b())
        else:
            ys.append(b())
            xs.append(a())
    return xs, ys


def rotate(runs: int, *fns: Callable[[], float]) -> list[list[float]]:
    """Like ``alternate`` for any number of sides: each run starts one later (A B C, B C A, ...)."""
    out: list[list[float]] = [[] for _ in fns]
    for i in range(runs):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            out[j].append(fns[j]())
    return out


@contextmanager
def cpu_clock() -> Iterator[list[float]]:
    """Wall and CPU seconds of this process for the block: ``[wall, cpu]`` once it ends."""
    box: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    yield box
    box.extend([time.perf_counter() - wall, time.process_time() - cpu])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child: ours, without a display, bus, DO_NOT_TRACK or PYTHONPATH
    pointing elsewhere; the repository first on the path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
                        "DO_NOT_TRACK", "LICENSE_COMPANION_HOME", "LICENSE_COMPANION_CONFIG")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def with_bytecode(env: dict[str, str], cache: Path) -> dict[str, str]:
    """``env`` with compiled modules read from (and first written to) ``cache``.

    Why: an installed product runs compiled modules (pip compiles them when it installs them,
    the frozen build ships them compiled), whatever ``PYTHONDONTWRITEBYTECODE`` says in the
    shell that runs the benchmark; the first (warm-up) start writes the cache.
    """
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env
