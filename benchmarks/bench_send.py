"""Throughput of ``track`` and ``send`` against the local receivers, as ratios to a baseline.

Run on demand: ``.venv/bin/python benchmarks/bench_send.py [--events N]``. Nothing here is a
test: it prints numbers. Each figure is compared with a baseline measured in the same run on the
same machine, so the ratio means something even on a busy or slow box:

* track: our durable enqueue (validate + SQLite WAL, synchronous=FULL, once per backend) against
  a bare ``INSERT`` of the same JSON into a SQLite file with the same durability settings.
* send: draining the outbox through the real sender (prepare, HTTP, interpret, ack, history)
  against posting the very same prepared bodies with a bare ``requests.Session`` loop.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.receiver import KeyManagerReceiver, TelemetryDeckReceiver
from app.service.identity import Identity
from app.storage.config import load_config
from app.wiring import build_companion

CONFIG = """
[product]
name = "Bench"
id = "1"
version = "1.0.0"
[keymanager]
enabled = {km_on}
url = "{km}"
api_key = "bench-api-key-123456"
[telemetrydeck]
enabled = {td_on}
url = "{td}"
app_id = "BENCH"
salt = "s"
"""
IDENTITY = Identity("u" * 32, "a" * 32, "bench", "bench")


def companion_for(tmp: Path, km: str, td: str, km_on: bool, td_on: bool):
    path = tmp / "companion.toml"
    path.write_text(CONFIG.format(km=km, td=td, km_on=str(km_on).lower(), td_on=str(td_on).lower()))
    companion = build_companion(load_config(path), tmp / "home", identity=lambda: IDENTITY,
                               license_key=lambda: "LICENSE-KEY-1234", environ={})
    companion.grant()
    return companion


def bench_track(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        companion = companion_for(Path(tmp), "http://127.0.0.1:9", "http://127.0.0.1:9/v2/",
                                  True, True)
        start = time.perf_counter()
        for i in range(n):
            companion.track("feature.bench", kind="number", value=i)
        ours = n / (time.perf_counter() - start)
        companion.close()
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
        bare = n / (time.perf_counter() - start)
        conn.close()
    return ours, bare


def bench_send(backend: str, n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, KeyManagerReceiver() as km, \
            TelemetryDeckReceiver() as td:
        companion = companion_for(Path(tmp), km.url, td.url, backend == "keymanager",
                                  backend == "telemetrydeck")
        for i in range(n):
            companion.track("feature.bench", kind="number", value=i)
        prepared = companion.preview(reveal=True, limit=10**6)[0].requests
        start = time.perf_counter()
        companion.send(force=True)
        ours = n / (time.perf_counter() - start)
        assert companion.outbox.counts() == {}, "benchmark did not deliver everything"
        companion.close()
        session = requests.Session()
        start = time.perf_counter()
        for request in prepared:
            session.post(request.url, data=request.body, headers=dict(request.headers), timeout=10)
        bare = n / (time.perf_counter() - start)
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    n = args.events
    rows = [("track (durable enqueue, 2 backends)", *bench_track(n))]
    rows.append(("send keymanager (1 event/request)", *bench_send("keymanager", n // 4)))
    rows.append(("send telemetrydeck (100 events/request)", *bench_send("telemetrydeck", n)))
    print(f"{'what':42} {'ours ev/s':>11} {'baseline ev/s':>14} {'ratio':>7}")
    for name, ours, bare in rows:
        print(f"{name:42} {ours:11.0f} {bare:14.0f} {ours / bare:7.2f}")


if __name__ == "__main__":
    main()
