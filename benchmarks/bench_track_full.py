"""``track`` throughput with an empty and with a full outbox, against a bare SQLite baseline.

Run on demand: ``.venv/bin/python benchmarks/bench_track_full.py [--events N] [--cap C]``.
Nothing here is a test: it prints numbers. "Full" means every backend's queue is already at the
outbox cap, so each ``track`` also drops the oldest event: the case where counting the table on
every insert used to cost the most. The undecided rows run the same with the category not yet
decided (its events are kept, bounded per category). The baseline is a bare ``INSERT`` of the
same JSON, once per backend, in one transaction with the same durability settings (WAL,
``synchronous=FULL``), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.companion import Companion
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.storage.config import load_config

CONFIG = """
[product]
name = "Bench"
id = "1"
version = "1.0.0"
[keymanager]
enabled = true
url = "http://127.0.0.1:9"
api_key = "bench-api-key-123456"
[telemetrydeck]
enabled = true
url = "http://127.0.0.1:9/v2/"
app_id = "BENCH"
salt = "s"
[outbox]
cap = {cap}
"""
IDENTITY = Identity("u" * 32, "a" * 32, "bench", "bench")


def companion_for(tmp: Path, cap: int, grant: bool) -> Companion:
    path = tmp / "companion.toml"
    path.write_text(CONFIG.format(cap=cap))
    companion = build_companion(load_config(path), tmp / "home", identity=lambda: IDENTITY,
                                license_key=lambda: "LICENSE-KEY-1234", environ={})
    if grant:
        companion.grant()
    return companion


def fill(companion: Companion, count: int) -> None:
    """Put ``count`` events per backend in the outbox quickly (one transaction)."""
    row = json.dumps({"id": "x", "name": "feature.fill", "kind": "number", "value": 1.0,
                      "payload": {}, "timestamp": 1.0, "session_id": "s"})
    names = list(companion.backends)
    with companion.db.write() as conn:
        conn.executemany(
            "INSERT INTO outbox (backend, event_id, category, event, enqueued_at) "
            "VALUES (?, ?, 'filler', ?, 1.0)",
            [(name, f"fill-{i}", row) for i in range(count) for name in names],
        )
    companion.db.close()  # a fresh connection, as a new process would have


def bench_track(n: int, cap: int, full: bool, grant: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        companion = companion_for(Path(tmp), cap, grant)
        if full:
            fill(companion, cap)
        start = time.perf_counter()
        for i in range(n):
            companion.track("feature.bench", kind="number", value=i)
        rate = n / (time.perf_counter() - start)
        counts = companion.outbox.counts()
        companion.close()
    if full:
        assert counts == {"keymanager": cap, "telemetrydeck": cap}, counts
    return rate


def bench_bare(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bare.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, backend TEXT, body TEXT)")
        body = json.dumps({"name": "feature.bench", "value": 1.0})
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO q (backend, body) VALUES ('keymanager', ?)", (body,))
            conn.execute("INSERT INTO q (backend, body) VALUES ('telemetrydeck', ?)", (body,))
            conn.execute("COMMIT")
        rate = n / (time.perf_counter() - start)
        conn.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--cap", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cases = [
        ("empty queue, granted", False, True),
        ("full queue, granted", True, True),
        ("empty queue, undecided", False, False),
        ("full queue, undecided", True, False),
    ]
    print(f"durability: WAL, synchronous=FULL; {args.events} tracks, cap {args.cap}, "
          f"median of {args.runs} runs (alternating)")
    results: dict[str, list[float]] = {"bare insert + commit": []}
    results.update({name: [] for name, _f, _g in cases})
    for _ in range(args.runs):
        results["bare insert + commit"].append(bench_bare(args.events))
        for name, full, grant in cases:
            results[name].append(bench_track(args.events, args.cap, full, grant))
    bare = sorted(results["bare insert + commit"])[args.runs // 2]
    print(f"{'case':28} {'tracks/s':>9} {'min..max':>15} {'vs bare':>8}")
    for name, rates in results.items():
        rates.sort()
        median = rates[len(rates) // 2]
        print(f"{name:28} {median:9.0f} {rates[0]:7.0f}..{rates[-1]:<7.0f} {median / bare:8.2f}")


if __name__ == "__main__":
    main()
