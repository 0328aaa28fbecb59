"""``track`` through the CLI as a cold process, against ``python -c "import sqlite3, json"``.

Both are started the same way (``Popen`` of this interpreter) and timed to their end; their
peak RSS is read by GNU time in runs of their own. Ours is
``python -m app track feature.bench --value N`` into a state dir where consent is granted
and both backends are enabled, so each call stores the event for both.

Both sides run with a bytecode cache, as an installed product does (pip compiles the modules
when it installs them, the frozen build ships them compiled): the cache is a directory of
this run's (``PYTHONPYCACHEPREFIX``), written by the warm-up calls, whatever
``PYTHONDONTWRITEBYTECODE`` says in the calling shell. A reference row times ours without
it, every module compiled from source on every call, as a checkout with bytecode writing
turned off runs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.core import Row, Settings, Stat, alternate, clean_env, failed, with_bytecode
from benchmarks.vendor import EVENT, prepare_home

BASELINE = 'python -c "import sqlite3, json"'
GNU_TIME = "/usr/bin/time"


class Cold:
    """Runs one command to its end, recording wall time and peak RSS."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.cmd, self.env = cmd, env
        self.rss: list[float] = []

    def __call__(self) -> float:
        started = time.perf_counter()
        proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        _pid, status, _usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(self.cmd[1:4])} exited {proc.returncode}: {err[-300:]}")
        return elapsed

    def peak_rss(self) -> float:
        """MiB at the call's peak, from GNU time, in a run of its own (not timed).

        Why not ``wait4``: Linux counts in a child's ``ru_maxrss`` the memory of the process
        it was forked from, so every child of this (bigger) process would show its size. GNU
        time is a small C program: its child's figure is the child's own.
        """
        done = subprocess.run([GNU_TIME, "-f", "%M", *self.cmd], env=self.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(self.cmd[1:4])} exited {done.returncode}")
        kib = float(done.stderr.decode(errors="replace").strip().splitlines()[-1])
        self.rss.append(kib / 1024)
        return self.rss[-1]


def without_bytecode(env: dict[str, str]) -> dict[str, str]:
    """``env`` with no bytecode written: ours compiles every module it imports, each call."""
    env = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(s: Settings) -> list[Row]:
    """Wall time and peak RSS per call, alternating ours and the baseline."""
    with tempfile.TemporaryDirectory(prefix="lc-bench-cli-") as tmp:
        env = with_bytecode(prepare_home(Path(tmp), s.python, clean_env()), Path(tmp) / "pyc")
        track = [s.python, "-m", "app", "track", EVENT, "--value", "1"]
        ours = Cold(track, env)
        base = Cold([s.python, "-c", "import sqlite3, json"], env)
        ours(), base()  # warm the page cache and write the bytecode caches
        runs = s.runs * 3
        a, b = alternate(runs, ours, base)
        measured_rss = os.access(GNU_TIME, os.X_OK)
        if measured_rss:
            alternate(s.runs, ours.peak_rss, base.peak_rss)
        uncached = Cold(track, without_bytecode(env))
        cold_a, cold_b = alternate(s.runs, uncached, Cold(base.cmd, env))
    note = ("each call stores one event for 2 backends (SQLite WAL + synchronous=FULL) and exits; "
            "both with a bytecode cache, as installed")
    rss_name = "`track` via CLI, cold process: peak RSS"
    rss = (Row(rss_name, Stat(ours.rss, "MiB"), Stat(base.rss, "MiB"), BASELINE, "(reference)",
               note="max RSS from GNU time, in runs of their own") if measured_rss else
           failed(rss_name, "not available", f"needs {GNU_TIME} (Debian: time)", "(reference)"))
    return [
        Row("`track` via CLI, cold process: time", Stat(a, "s"), Stat(b, "s"), BASELINE,
            "≤ 2.5×", note=note),
        rss,
        Row("`track` via CLI, no bytecode cache: time", Stat(cold_a, "s"), Stat(cold_b, "s"),
            BASELINE, "(reference)",
            note="ours compiles every module it imports on each call (PYTHONDONTWRITEBYTECODE=1, "
                 "no cache); the baseline's standard library is compiled either way"),
    ]
