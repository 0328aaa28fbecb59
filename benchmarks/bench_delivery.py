"""Delivering a queue to a receiver with 20 ms latency: ours, the wire's floor, a naive client.

Ours is the real service object (``open_companion(...).send()``, the drain ``license-companion
send`` runs) on a copy of a state directory holding N queued events, against the real receivers
in their own process (benchmarks/receivers.py). The floors are what the wire allows at that
latency: TelemetryDeck takes 100 signals per request, so ⌈N/100⌉ × latency; KeyManager takes
one event per request on one kept-alive connection, so N × latency.

The naive client is what one writes first: a SQLite queue (WAL, synchronous=FULL, like ours)
holding the very requests ours would send, one event per request, each posted with a fresh
``requests.post`` (a new connection every time) and deleted once answered 200. It is timed on a
smaller queue and scaled per event where a full run would take minutes (said in the row).
The bare loop posts the very requests ours would send back to back on one kept-alive
``requests.Session``: the floor as measured. The receivers answer 20 ms after a request arrived,
their own work inside those 20 ms, so what the bare loop adds to the floor is the client's and
the loopback's own time per request.

CPU time per delivered event is this process's CPU clock over the drain divided by the events;
the receiver's work is in the other process and not counted.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.core import Row, Settings, Stat, cpu_clock, failed, rotate
from benchmarks.receivers import Receiver
from benchmarks.vendor import EVENT, open_service, write_config

TD_BATCH = 100
DURABILITY = "SQLite WAL + synchronous=FULL"


def _open(config_path: Path, home: Path) -> Any:
    return open_service(config_path, home)


def _template(config_path: Path, home: Path, n: int) -> list[Any]:
    """A state directory with ``n`` queued, consented events; returns what ours would send."""
    companion = _open(config_path, home)
    try:
        companion.grant()
        for i in range(n):
            companion.track(EVENT, kind="number", value=i)
        previews = companion.preview(reveal=True, limit=10**7)
        return [r for p in previews for r in p.requests]
    finally:
        companion.close()


class _Delivery:
    """One backend, one receiver, one queue size: ours and the naive client, run in turns."""

    def __init__(self, backend: str, rx: Receiver, tmp: Path, n: int, naive_n: int) -> None:
        self.backend, self.rx, self.tmp, self.n, self.naive_n = backend, rx, tmp, n, naive_n
        km, td = (rx.url, "") if backend == "keymanager" else ("", rx.url)
        self.config = write_config(tmp / f"cfg-{n}", km, td, rx.pem or None)
        self.template = tmp / f"template-{n}"
        prepared = _template(self.config, self.template, n)
        self.prepared = prepared
        self.naive_requests = _one_event_each(prepared)[:naive_n]
        self.runs = 0
        self.cpu: dict[str, list[float]] = {"ours": [], "naive": []}

    def ours(self) -> float:
        self.runs += 1
        home = self.tmp / f"run-{self.n}-{self.runs}"
        shutil.copytree(self.template, home)
        companion = _open(self.config, home)
        self.rx.clear()
        try:
            with cpu_clock() as clock:
                reports = companion.send()
            left = companion.outbox.counts()
        finally:
            companion.close()
            shutil.rmtree(home, ignore_errors=True)
        got = self.rx.count()
        if left or got != self.n:
            stopped = {k: r.stopped for k, r in reports.items() if r.stopped}
            raise RuntimeError(f"ours delivered {got} of {self.n} (left {left}; {stopped})")
        self.cpu["ours"].append(clock[1] / self.n)
        return clock[0]

    def naive(self) -> float:
        self.rx.clear()
        wall, cpu = naive_drain(self.tmp / f"naive-{self.n}.db", self.naive_requests)
        got = self.rx.count()
        if got != len(self.naive_requests):
            raise RuntimeError(f"the naive client delivered {got} of {len(self.naive_requests)}")
        self.cpu["naive"].append(cpu / len(self.naive_requests))
        return wall * self.n / len(self.naive_requests)  # scaled to the same queue


    def bare(self) -> float:
        """Our prepared requests posted back to back on one kept-alive session: the floor as
        measured, i.e. the latency plus the receiver's own time per request."""
        import requests

        self.rx.clear()
        with requests.Session() as session, cpu_clock() as clock:
            for request in self.prepared:
                answer = session.post(request.url, data=request.body,
                                      headers=dict(request.headers), timeout=10)
                if answer.status_code != 200:
                    raise RuntimeError(f"the bare loop got HTTP {answer.status_code}")
        if self.rx.count() != self.n:
            raise RuntimeError(f"the bare loop delivered {self.rx.count()} of {self.n}")
        return clock[0]


def _one_event_each(prepared: list[Any]) -> list[tuple[str, bytes, dict[str, str]]]:
    """The requests ours would send, split so that each carries one event."""
    out = []
    for request in prepared:
        headers = dict(request.headers)
        if request.backend == "telemetrydeck":
            for signal in json.loads(request.body):
                out.append((request.url, json.dumps([signal]).encode(), headers))
        else:
            out.append((request.url, request.body, headers))
    return out


def naive_drain(path: Path, requests_: list[tuple[str, bytes, dict[str, str]]]) -> tuple[float,
                                                                                          float]:
    """Queue the requests durably, then post them one per request, deleting each once sent."""
    import requests

    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, url TEXT, body BLOB, headers TEXT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO q (url, body, headers) VALUES (?, ?, ?)",
                     [(u, b, json.dumps(h)) for u, b, h in requests_])
    conn.execute("COMMIT")
    with cpu_clock() as clock:
        while True:
            row = conn.execute("SELECT id, url, body, headers FROM q ORDER BY id LIMIT 1").fetchone()
            if row is None:
                break
            answer = requests.post(row[1], data=row[2], headers=json.loads(row[3]), timeout=10)
            if answer.status_code != 200:
                raise RuntimeError(f"the naive client got HTTP {answer.status_code}")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM q WHERE id = ?", (row[0],))
            conn.execute("COMMIT")
    conn.close()
    return clock[0], clock[1]


def _deliver_rows(backend: str, title: str, s: Settings, n: int, runs: int, rx: Receiver,
                  tmp: Path) -> tuple[list[Row], _Delivery]:
    naive_n = min(n, s.naive_td_events if backend == "telemetrydeck" else n)
    delivery = _Delivery(backend, rx, tmp, n, naive_n)
    ours, naive, bare = rotate(runs, delivery.ours, delivery.naive, delivery.bare)
    if backend == "telemetrydeck":
        floor = math.ceil(n / TD_BATCH) * s.latency
        floor_name = f"floor ⌈N/{TD_BATCH}⌉×{s.latency * 1000:g} ms"
        goal = "≤ 1.25× the floor"
    else:
        floor = n * s.latency
        floor_name = f"floor N×{s.latency * 1000:g} ms, one kept-alive connection"
        goal = "≤ 1.15× the floor"
    scaled = "" if naive_n == n else f"; naive timed on {naive_n} events and scaled ×{n / naive_n:g}"
    common = (f"receiver latency {s.latency * 1000:g} ms from a request's arrival to its answer "
              "(the receiver's work inside it), HTTP/1.1; ours: Companion.send() drain; "
              f"queue on disk: {DURABILITY} both sides")
    rows = [
        Row(f"{title}: deliver {n:,} queued events", Stat(ours, "s"), Stat([floor], "s"),
            floor_name, goal, note=common),
        Row(f"{title}: deliver {n:,} — vs bare kept-alive loop", Stat(ours, "s"),
            Stat(bare, "s"), "our prepared requests posted back to back on one requests.Session",
            "(reference)", note=common + "; the floor as measured"),
        Row(f"{title}: deliver {n:,} — vs naive client", Stat(ours, "s"), Stat(naive, "s"),
            "naive: 1 event/request, new connection each", "(reference)", note=common + scaled),
    ]
    return rows, delivery


def _cpu_row(title: str, delivery: _Delivery) -> Row:
    ours = [x * 1e6 for x in delivery.cpu["ours"]]
    naive = [x * 1e6 for x in delivery.cpu["naive"]]
    return Row(f"CPU per delivered event, {title} (N={delivery.n:,})", Stat(ours, "µs"),
               Stat(naive, "µs"), "the naive client", "≤ 0.5×",
               note="client process CPU (user+sys) over the drain / events; receiver excluded")


def run(s: Settings) -> list[Row]:
    """TelemetryDeck at each queue size, KeyManager, and CPU per event for both."""
    rows: list[Row] = []
    runs = max(3, s.runs - 2) if not s.quick else 2
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp_text:
        tmp = Path(tmp_text)
        try:
            with Receiver("telemetrydeck", s.latency) as rx:
                for n in s.td_sizes:
                    got, delivery = _deliver_rows("telemetrydeck", "TelemetryDeck", s, n, runs,
                                                  rx, tmp)
                    rows += got
                    rows.append(_cpu_row("TelemetryDeck", delivery))
        except Exception as exc:  # one backend failing must not hide the other
            rows.append(failed("TelemetryDeck delivery", "error", f"{type(exc).__name__}: {exc}"))
        if s.quick:
            rows.append(failed("TelemetryDeck: deliver 10,000 queued events", "skipped",
                               "--quick", "≤ 1.25× the floor"))
        try:
            with Receiver("keymanager", s.latency) as rx:
                got, delivery = _deliver_rows("keymanager", "KeyManager", s, s.km_events, runs,
                                              rx, tmp)
                rows += got
                rows.append(_cpu_row("KeyManager", delivery))
        except Exception as exc:
            rows.append(failed("KeyManager delivery", "error", f"{type(exc).__name__}: {exc}"))
    return rows
