"""``python -m benchmarks [--quick]``: every figure beside its baseline, as a table and as JSON.

Nothing here passes or fails on a number: the exit status is 0 whenever the run itself ends,
even when some figures are error rows (the table says why). ``--quick`` is the smoke run (well
under two minutes) that shows the benchmark still works.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.core import REPO, Row, Settings, failed, settings

# (group, module, what its rows are called when the whole module fails)
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("tray", "benchmarks.bench_tray", "tray start → icon, idle RSS, idle CPU and wake-ups"),
    ("cli", "benchmarks.bench_cli", "`track` via CLI, cold process"),
    ("track", "benchmarks.bench_track", "`track` in process, per durable event"),
    ("delivery", "benchmarks.bench_delivery", "delivery to TelemetryDeck and KeyManager"),
    ("host", "benchmarks.bench_host", "host `track` p50/p99 with 8 host processes"),
    ("frozen", "benchmarks.bench_frozen", "frozen onedir size and start → icon"),
)
DURABILITY = ("durability: ours = the app's own state database (SQLite WAL + synchronous=FULL, "
              "read back from its connection in the track figure); every SQLite baseline and the "
              "naive client = SQLite WAL + synchronous=FULL, one transaction per event")
RESULTS = REPO / "benchmarks" / "results"


def run_group(module_name: str, title: str, s: Settings) -> list[Row]:
    """One module's rows; an import or run failure becomes one error row, not a dead run."""
    try:
        module = importlib.import_module(module_name)
        return list(module.run(s))
    except Exception as exc:  # a broken figure is reported, the others still run
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        return [failed(title, "error", f"{type(exc).__name__}: {exc} (at {where})")]


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def machine(s: Settings) -> dict[str, Any]:
    """Where and when this ran: it decides how the numbers may be compared."""
    try:
        import PySide6

        qt = PySide6.__version__
    except ImportError:
        qt = "not installed"
    return {
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "mode": "quick" if s.quick else "full",
        "commit": _git("rev-parse", "--short", "HEAD") + (" (dirty)" if _git("status",
                                                                              "--porcelain")
                                                            else ""),
        "python": f"{platform.python_version()} ({sys.executable})",
        "pyside6": qt,
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "durability": DURABILITY,
    }


def ratio_text(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "—"
    return f"{ratio:.2f}×"


def render(meta: dict[str, Any], rows: list[Row]) -> str:
    """The table (figure, ours, baseline, ratio, goal), then each row's baseline and setup."""
    head = ("figure", "ours", "baseline", "ratio", "goal")
    cells = []
    for row in rows:
        if row.status != "ok":
            cells.append((row.figure, row.status.upper(), "", "—", row.goal))
        else:
            cells.append((row.figure, row.ours.text() if row.ours else "",
                          row.baseline.text() if row.baseline else "—", ratio_text(row),
                          row.goal))
    widths = [max(len(str(c[i])) for c in [head, *cells]) for i in range(5)]
    lines = [f"License Companion benchmarks — {meta['mode']} run, {meta['started_utc']} UTC, "
             f"commit {meta['commit']}",
             f"machine: {meta['cpus']} CPUs, kernel {meta['kernel']}, Python {meta['python']}, "
             f"PySide6 {meta['pyside6']}",
             f"load average (1/5/15 min): before {meta['load_before']}, after "
             f"{meta.get('load_after')}; the run took {meta.get('seconds', 0):.0f} s",
             meta["durability"]]
    build = meta.get("frozen_build")
    if build and "seconds" in build:
        lines.append(f"frozen build: PyInstaller ran first ({build['reason']}), "
                     f"{build['seconds']:.0f} s, {'ok' if build['built'] else 'FAILED'}; "
                     "not counted in the run's time")
    lines.append("")
    for line in [head, ["-" * w for w in widths], *cells]:
        text = " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True))
        lines.append(text.rstrip())
    lines += ["", "baselines and settings:"]
    for number, row in enumerate(rows, 1):
        what = f"vs {row.baseline_name}; " if row.baseline_name else ""
        lines.append(f"  {number:2}. {row.figure}: {what}{row.note}".rstrip("; "))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: fewer runs, smaller queues, a 10 s idle window")
    parser.add_argument("--only", metavar="GROUPS",
                        help="comma-separated: " + ",".join(g for g, _m, _t in FIGURES))
    parser.add_argument("--runs", type=int, default=None, help="A/B pairs per figure")
    parser.add_argument("--out", metavar="FILE", help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--build", action=argparse.BooleanOptionalAction, default=None,
                        help="(re)build dist/ with PyInstaller before the frozen figures; by "
                             "default a full run builds when dist/ is missing or stale, --quick "
                             "never does")
    args = parser.parse_args(argv)
    s = settings(args.quick, args.runs)
    groups = [g for g, _m, _t in FIGURES]
    chosen = args.only.split(",") if args.only else groups
    unknown = sorted(set(chosen) - set(groups))
    if unknown:
        parser.error(f"--only: unknown group(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(groups)}")
    meta = machine(s)
    if "frozen" in chosen:  # before the clock: the build is not part of any figure
        from benchmarks.bench_frozen import ensure_build

        mode = {True: "always", False: "never"}.get(args.build, "never" if s.quick else "auto")
        meta["frozen_build"] = ensure_build(mode, s.python)
    started = time.monotonic()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    for group, module, title in FIGURES:
        if group not in chosen:
            continue
        print(f"[bench] {group} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        rows += run_group(module, title, s)
        timings[group] = round(time.monotonic() - t0, 1)
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["seconds"] = time.monotonic() - started
    meta["group_seconds"] = timings
    table = render(meta, rows)
    print(table)
    out = Path(args.out) if args.out else RESULTS / (
        time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + ("-quick" if s.quick else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "settings": dataclasses.asdict(s),
                               "rows": [r.as_dict() for r in rows], "table": table},
                              ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {out}")
    return 0
