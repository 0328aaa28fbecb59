"""Hosts that do not wait: ``Client(wait=False)`` beside a bare socket and a bare SQLite commit.

Run by ``benchmarks.bench_host`` while its tray is up (the same tray, the same session). Four
figures, each beside its baseline from the same run:

* *host blocking per ``track``*: 8 busy hosts (each spins its CPU between calls, so both
  cores are taken) call ``track`` at ``BUSY_RATE`` per second, timing each call; baseline: the
  same hosts writing the same line to a bare Unix socket that only reads (``sink``).
* *acknowledgement*: 8 hosts × ``PACED_RATE`` events/s, each timing ``track`` +
  ``flush(send=False)`` (until the tray says "stored"); baseline: one line written to a bare
  socket that answers every line at once (``echo``) and its answer read.
* *tray CPU per event on ``track_batch``* (``BATCH`` events a call, 8 hosts back to back,
  ``/proc`` CPU of all the tray's threads); baseline: the CPU of inserting the same event
  bodies into a bare SQLite table (WAL, synchronous=FULL), ``BATCH`` rows a transaction.
* *batched throughput*: the same run's events per second (first host's start to the last
  one's flush); baseline: 8 processes committing ``BATCH`` rows a transaction into one
  shared SQLite file.

Each host is ``python -m benchmarks.bench_host_stream MODE N RATE [path]``; it prints one JSON
list: latencies in ms, or for the batch modes ``[start, end]`` (``time.time()``).
"""

from __future__ import annotations

import json
import selectors
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.core import Row, Settings, Stat
from benchmarks.vendor import EVENT

HOSTS = 8
PRODUCT = "1"  # benchmarks/vendor.py's [product] id
BUSY_RATE = 50.0  # calls per second per busy host
PACED_RATE = 50.0
BATCH = 100  # events per track_batch call / per bare group commit
LINE = (json.dumps({"op": "track", "name": EVENT, "value": 1, "event_id": "p-" + "0" * 20},
                   separators=(",", ":")) + "\n").encode()


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _due(rate: float, busy: bool):  # type: ignore[no-untyped-def]
    origin = time.perf_counter()

    def wait(i: int) -> None:
        due = origin + i / rate
        if busy:
            while time.perf_counter() < due:  # the host's own work: it keeps its CPU busy
                pass
        elif due > time.perf_counter():
            time.sleep(due - time.perf_counter())
    return wait


def _timed(n: int, rate: float, busy: bool, call) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall-clock ms of each call, then (as many again) the thread's CPU ms in each call."""
    wait, out, cpu = _due(rate, busy), [], []
    for i in range(n):
        wait(i)
        started, on_cpu = time.perf_counter(), time.thread_time()
        call(i)
        out.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - on_cpu) * 1000)
    return out + cpu


def host(mode: str, n: int, rate: float, path: str) -> list[float]:
    """One host process's measurements (see the module docstring)."""
    if mode in ("nowait", "ack", "batch"):
        from app.door.client import Client

        client = Client(PRODUCT, wait=False, fallback=False, timeout=60)
        client.hello()  # connected before the clock starts
        if mode == "nowait":
            out = _timed(n, rate, True, lambda i: client.track(EVENT, value=i))
        elif mode == "ack":
            out = _timed(n, rate, False, lambda i: (client.track(EVENT, value=i),
                                                     client.flush(30, send=False)))
        else:
            started = time.time()
            for i in range(0, n, BATCH):
                client.track_batch([{"name": EVENT, "value": i + k} for k in range(BATCH)])
            client.flush(120, send=False)
            out = [started, time.time()]
        client.flush(120, send=False)  # a refusal or a lost answer fails the run
        client.close()
        return out
    if mode == "sqlitebatch":
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        started = time.time()
        _bare_commits(conn, n)
        return [started, time.time()]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    if mode == "rawwrite":  # a buffer for the whole run: the write's own cost, never a full one
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        return _timed(n, rate, True, lambda i: sock.sendall(LINE))

    def round_trip(i: int) -> None:
        sock.sendall(LINE)
        while not sock.recv(4096).endswith(b"\n"):
            pass
    return _timed(n, rate, False, round_trip)


def _bare_commits(conn: sqlite3.Connection, n: int) -> None:
    body = json.dumps({"name": EVENT, "value": 1})
    for _ in range(0, n, BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO q (body) VALUES (?)", [(body,)] * BATCH)
        conn.execute("COMMIT")


def serve(kind: str, path: str) -> None:
    """A bare Unix socket server: ``sink`` reads and drops, ``echo`` answers every line."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                sel.register(conn, selectors.EVENT_READ)
                continue
            conn = key.fileobj  # type: ignore[assignment]
            data = conn.recv(65536)
            if not data:
                sel.unregister(conn)
                conn.close()
            elif kind == "echo":
                conn.sendall(b'{"ok":true}\n' * data.count(b"\n"))


def _hosts(python: str, args: list[str], env: dict[str, str]) -> list[list[float]]:
    procs = [subprocess.Popen([python, "-m", "benchmarks.bench_host_stream", *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(HOSTS)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"a host exited {proc.returncode}: {err.strip()[-300:]}")
        results.append(json.loads(out))
    return results


def _flat(results: list[list[float]], part: int = 0) -> list[float]:
    """All hosts' wall-clock times (``part`` 0) or CPU times (1), see ``_timed``."""
    return [x for one in results for x in one[part * len(one) // 2:(part + 1) * len(one) // 2]]


def _server(python: str, kind: str, path: Path, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([python, "-m", "benchmarks.bench_host_stream", "serve", kind,
                             str(path)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def rows(s: Settings, env: dict[str, str], tmp: Path, tray_cpu) -> list[Row]:  # type: ignore[no-untyped-def]
    """The four figures; ``tray_cpu()`` is the tray's CPU seconds so far."""
    n, batch_n = s.host_events * 2, s.host_events * 10
    servers = [_server(s.python, kind, tmp / f"{kind}.sock", env) for kind in ("sink", "echo")]
    try:
        bare_writes = _hosts(s.python, ["rawwrite", str(n), str(BUSY_RATE),
                                        str(tmp / "sink.sock")], env)
        bare_rtt = _flat(_hosts(s.python, ["rawrtt", str(s.host_events), str(PACED_RATE),
                                           str(tmp / "echo.sock")], env))
    finally:
        for proc in servers:
            proc.kill()
            proc.wait()
    ours_writes = _hosts(s.python, ["nowait", str(n), str(BUSY_RATE)], env)
    ours_ack = _flat(_hosts(s.python, ["ack", str(s.host_events), str(PACED_RATE)], env))
    before = tray_cpu()
    spans = _hosts(s.python, ["batch", str(batch_n), "0"], env)
    per_event = (tray_cpu() - before) / (HOSTS * batch_n) * 1e6
    ours_rate = HOSTS * batch_n / (max(e for _s, e in spans) - min(st for st, _e in spans))

    db = tmp / "bare-batch.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, body TEXT)")
    cpu = time.process_time()
    _bare_commits(conn, HOSTS * batch_n)
    bare_cpu = (time.process_time() - cpu) / (HOSTS * batch_n) * 1e6
    conn.close()
    spans = _hosts(s.python, ["sqlitebatch", str(batch_n), "0", str(db)], env)
    bare_rate = HOSTS * batch_n / (max(e for _s, e in spans) - min(st for st, _e in spans))

    busy = (f"{HOSTS} busy hosts (each spinning its CPU between calls) × {n} calls at "
            f"{BUSY_RATE:g}/s each")
    out = []
    for label, q, part in (("p50", 0.50, 0), ("p99", 0.99, 0), ("p99 on CPU", 0.99, 1)):
        out.append(Row(f"host blocking per `track` {label}, {HOSTS} busy hosts, not waiting",
                       Stat([percentile(_flat(ours_writes, part), q)], "ms"),
                       Stat([percentile(_flat(bare_writes, part), q)], "ms"),
                       "bare socket write", "(reference)" if label == "p50" else "p99 ≤ 0.05 ms",
                       note=f"{busy}; ours: Client(wait=False).track, answers read inside "
                            "the calls; bare: sendall of the same line to a socket that only "
                            "reads, with a 4 MiB send buffer (never full); on 2 cores the "
                            "wall-clock tail is mostly the host preempted inside the call; "
                            "\"on CPU\": the thread's own CPU time in the call"))
    out.append(Row(f"acknowledgement p99, {HOSTS} hosts × {PACED_RATE:g} ev/s",
                   Stat([percentile(ours_ack, 0.99)], "ms"),
                   Stat([percentile(bare_rtt, 0.99)], "ms"), "bare socket round trip",
                   "p99 ≤ 5 ms",
                   note=f"ours: track + flush(send=False), i.e. until the tray's commit "
                        f"answered (p50 {percentile(ours_ack, 0.5):.2f} ms); bare: one line "
                        "to a socket answering every line at once, answer read"))
    out.append(Row(f"tray CPU per event, track_batch of {BATCH}",
                   Stat([per_event], "µs"), Stat([bare_cpu], "µs"),
                   "bare SQLite group commit", "(reference)",
                   note=f"{HOSTS} hosts × {batch_n} events back to back, /proc CPU of all the "
                        f"tray's threads; bare: the same event bodies, {BATCH} rows a "
                        "transaction, WAL + synchronous=FULL, CPU of one process"))
    out.append(Row(f"batched throughput, {HOSTS} hosts", Stat([ours_rate], "ev/s"),
                   Stat([bare_rate], "ev/s"), "bare SQLite group commit, 8 processes",
                   "(reference)",
                   note=f"first host's start to the last one's acknowledged flush; bare: "
                        f"{HOSTS} processes committing {BATCH} rows a transaction into one "
                        "shared file"))
    return out


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(host(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),
                              sys.argv[4] if len(sys.argv) > 4 else "")))
