"""Host ``track`` latency with 8 host processes at once, against a bare SQLite commit.

Ours: the tray runs (offscreen), and 8 processes each call ``app.door.client.track`` one event at a
time, timing every call. Baseline: 8 processes each doing a bare SQLite insert + commit (WAL,
synchronous=FULL) into one shared file, timed the same way. Until ``app.door.client`` exists the
figure is a "not available" row.

Two loads. *Back to back*: each host calls again as soon as it has its answer, so the tray
is always busy and, by Little's law, a call waits about hosts × the tray's time per event:
the figure measures throughput as much as latency. *Paced*: each host calls at a steady
``PACED_RATE`` per second (8 × 50 = 400 events/s, far above what an application sends, well
below what the tray can take), which is the latency a host sees when the tray is not saturated.
Then, on the same tray, the hosts that do not wait (benchmarks/bench_host_stream.py).

Each host is ``python -m benchmarks.bench_host client|sqlite N RATE [path]`` (RATE 0: back to
back) and prints its latencies (ms) as one JSON list.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.core import Row, Settings, Stat, clean_env, failed
from benchmarks.procstat import cpu_seconds
from benchmarks.session import user_session
from benchmarks.vendor import EVENT

HOSTS = 8
FIGURE = f"host `track` p50/p99 with {HOSTS} host processes"
GOAL = "p99 ≤ 5 ms"
PRODUCT = "1"  # [product] id in benchmarks/vendor.py's config: the socket is derived from it
WAIT = 20.0
PACED_RATE = 50.0  # calls per second per host in the paced run


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _pace(rate: float) -> Callable[[int], None]:
    """Sleeps until call ``i`` is due at ``rate`` calls per second (0: never sleeps)."""
    origin = time.perf_counter()

    def wait(i: int) -> None:
        if rate > 0:
            delay = origin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return wait


def _host_client(n: int, rate: float) -> list[float]:
    """One host: ``track`` one event at a time, each timed; no inbox fallback (a miss fails)."""
    from app.door.client import Client

    client = Client(PRODUCT, fallback=False)
    out = []
    pace = _pace(rate)
    for i in range(n):
        pace(i)
        started = time.perf_counter()
        answer = client.track(EVENT, value=i)
        out.append((time.perf_counter() - started) * 1000)
        if answer.get("queued") == "inbox":
            raise RuntimeError("an event went to the inbox: the tray did not answer")
    return out


def _host_sqlite(n: int, rate: float, path: str) -> list[float]:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    body = json.dumps({"name": EVENT, "value": 1})
    out = []
    pace = _pace(rate)
    for i in range(n):
        pace(i)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO q (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
        out.append((time.perf_counter() - started) * 1000)
    return out


def _hosts(python: str, args: list[str], env: dict[str, str]) -> list[float]:
    procs = [subprocess.Popen([python, "-m", "benchmarks.bench_host", *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(HOSTS)]
    latencies: list[float] = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"a host exited {proc.returncode}: {err.strip()[-300:]}")
        latencies += json.loads(out)
    return latencies


def _wait_serving(python: str, env: dict[str, str], tray: subprocess.Popen) -> bool:
    """Whether the tray answers ``hello`` on the host socket within ``WAIT`` seconds."""
    probe = ("import sys\nfrom app.door.client import Client\n"
             f"Client({PRODUCT!r}, fallback=False).hello()\n")
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if tray.poll() is not None:
            raise RuntimeError(f"the tray exited ({tray.returncode})")
        done = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True,
                              timeout=30, check=False)
        if done.returncode == 0:
            return True
        time.sleep(0.5)
    return False


def run(s: Settings) -> list[Row]:
    """p50 and p99 of ours and of the bare commit, or a "not available" row."""
    try:
        available = importlib.util.find_spec("app.door.client") is not None
    except (ImportError, ValueError):
        available = False
    if not available:
        return [failed(FIGURE, "not available", "app.door.client does not exist yet (no host "
                                                "endpoint in the tray)", GOAL)]
    with tempfile.TemporaryDirectory(prefix="lc-bench-host-") as tmp_text:
        tmp = Path(tmp_text)
        with user_session(tmp, s.python, clean_env(QT_QPA_PLATFORM="offscreen")) as (env, _):
            bare_db = tmp / "bare.db"
            conn = sqlite3.connect(bare_db, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, body TEXT)")
            conn.close()
            n, paced_n, rate = str(s.host_events), str(s.host_events // 2), str(PACED_RATE)
            bare = _hosts(s.python, ["sqlite", n, "0", str(bare_db)], env)
            bare_paced = _hosts(s.python, ["sqlite", paced_n, rate, str(bare_db)], env)
            with open(tmp / "tray.log", "wb") as log:
                tray = subprocess.Popen([s.python, "-m", "app", "tray"], env=env, stdout=log,
                                        stderr=log)
            try:
                if not _wait_serving(s.python, env, tray):
                    return [failed(FIGURE, "not available", "app.door.client exists, but the tray "
                                   f"does not answer on the host socket within {WAIT:g} s", GOAL)]
                cpu_before = cpu_seconds(tray.pid)
                ours = _hosts(s.python, ["client", n, "0"], env)
                tray_cpu = cpu_seconds(tray.pid) - cpu_before
                ours_paced = _hosts(s.python, ["client", paced_n, rate], env)
                from benchmarks import bench_host_stream  # the same tray, not waiting

                streamed = bench_host_stream.rows(s, env, tmp, lambda: cpu_seconds(tray.pid))
            finally:
                tray.terminate()
                try:
                    tray.wait(15)
                except subprocess.TimeoutExpired:
                    tray.kill()
                    tray.wait()
    per_event = tray_cpu / len(ours) * 1e6 if ours else 0.0
    common = ("bare: SQLite WAL + synchronous=FULL, one shared file; ours: the tray's own "
              "durability (an answer only after its group's commit)")
    loads = (
        ("back to back", ours, bare,
         f"{HOSTS} hosts × {s.host_events} events, each calling again on its answer; {common}; "
         f"tray CPU {per_event:.0f} µs per event (all its threads, /proc), so "
         f"{HOSTS} × that = {HOSTS * per_event / 1000:.1f} ms is the wait Little's law gives"),
        (f"{PACED_RATE:g}/s each", ours_paced, bare_paced,
         f"{HOSTS} hosts × {paced_n} events, each at {PACED_RATE:g} calls/s "
         f"({HOSTS * PACED_RATE:g} events/s in all); {common}"),
    )
    rows = []
    for load, mine, theirs, note in loads:
        for label, q in (("p50", 0.50), ("p99", 0.99)):
            rows.append(Row(f"host `track` {label}, {HOSTS} hosts {load}",
                            Stat([percentile(mine, q)], "ms"), Stat([percentile(theirs, q)], "ms"),
                            "bare SQLite commit", GOAL if label == "p99" else "(reference)",
                            note=note + f"; mean ours {statistics.fmean(mine):.2f} ms"))
    return rows + streamed


if __name__ == "__main__":
    mode, count, pace_rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    result = (_host_client(count, pace_rate) if mode == "client"
              else _host_sqlite(count, pace_rate, sys.argv[4]))
    print(json.dumps(result))
