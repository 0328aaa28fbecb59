"""``Companion.track`` in process, per durable event, against a bare SQLite insert + commit.

Both sides write to a SQLite file in WAL mode with ``synchronous=FULL`` (ours: read back from
its own connection and printed), one transaction per event, one row per enabled backend (2).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.core import Row, Settings, Stat, alternate
from benchmarks.vendor import CLOSED_PORT, EVENT, open_service, write_config

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _durability(conn: sqlite3.Connection) -> str:
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return f"SQLite {str(mode).upper()} + synchronous={SYNCHRONOUS.get(sync, sync)}"


def _bare(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, backend TEXT, body TEXT)")
    return conn


def run(s: Settings) -> list[Row]:
    """Events per second, ours and bare, in alternating runs of ``track_events`` each."""
    n = s.track_events
    with tempfile.TemporaryDirectory(prefix="lc-bench-track-") as tmp_text:
        tmp = Path(tmp_text)
        config = write_config(tmp / "cfg", CLOSED_PORT, CLOSED_PORT + "/v2/")
        companion: Any = open_service(config, tmp / "home")
        companion.grant()
        conn = _bare(tmp / "bare.db")
        body = json.dumps({"name": EVENT, "kind": "number", "value": 1.0, "timestamp": time.time()})
        counter = iter(range(10**9))

        def ours() -> float:
            started = time.perf_counter()
            for _ in range(n):
                companion.track(EVENT, kind="number", value=next(counter))
            return n / (time.perf_counter() - started)

        def bare() -> float:
            started = time.perf_counter()
            for _ in range(n):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO q (backend, body) VALUES ('keymanager', ?)", (body,))
                conn.execute("INSERT INTO q (backend, body) VALUES ('telemetrydeck', ?)", (body,))
                conn.execute("COMMIT")
            return n / (time.perf_counter() - started)

        try:
            ours(), bare()  # warm-up
            a, b = alternate(s.runs, ours, bare)
            ours_durability = _durability(companion.db.connection())
            bare_durability = _durability(conn)
        finally:
            companion.close()
            conn.close()
    return [Row("`track` in process, per durable event (2 backends)", Stat(a, "events/s"),
                Stat(b, "events/s"), "bare SQLite insert + commit", "≥ 0.8× of its throughput",
                note=f"ours: {ours_durability}; bare: {bare_durability}; one transaction per "
                     f"event; {n} events per run; ratio is ours/bare throughput",
                extra={"higher_is_better": True})]
