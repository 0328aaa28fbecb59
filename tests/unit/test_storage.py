"""The SQLite outbox, state and history: durable, bounded, safe for several writers."""

import multiprocessing
import sqlite3

import pytest

from app.model.errors import StorageError
from app.model.event import make_event
from app.model.wire import Outcome, SignatureStatus, Verdict
from app.storage.db import SCHEMA_VERSION, Database
from app.storage.history import History
from app.storage.outbox import Outbox
from app.storage.state import StateStore


def ev(i=0, name="feature.x"):
    return make_event(name, kind="number", value=i)


def test_enqueue_once_per_backend_and_survives_reopen(tmp_path):
    path = tmp_path / "c.db"
    outbox = Outbox(Database(path))
    e = ev(1)
    outbox.enqueue(e, ["keymanager", "telemetrydeck"], "usage")
    outbox.db.close()
    again = Outbox(Database(path))
    assert again.counts() == {"keymanager": 1, "telemetrydeck": 1}
    (queued,) = again.peek("keymanager", 10)
    assert queued.event == e and queued.category == "usage"


def test_schema_version_wal_and_application_id(tmp_path):
    db = Database(tmp_path / "c.db")
    conn = db.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cap_drops_oldest_and_counts(tmp_path):
    outbox = Outbox(Database(tmp_path / "c.db"), cap=10)
    events = [ev(i) for i in range(15)]
    dropped = sum(outbox.enqueue(e, ["telemetrydeck"], "usage").dropped for e in events)
    assert dropped == 5
    assert outbox.counts() == {"telemetrydeck": 10}
    assert outbox.dropped() == {"telemetrydeck": 5}
    kept = [q.event.value for q in outbox.peek("telemetrydeck", 100)]
    assert kept == [float(i) for i in range(5, 15)]


def test_ack_removes_only_the_given_rows(tmp_path):
    outbox = Outbox(Database(tmp_path / "c.db"))
    for i in range(5):
        outbox.enqueue(ev(i), ["keymanager", "telemetrydeck"], "usage")
    batch = outbox.peek("keymanager", 2)
    assert outbox.ack(q.seq for q in batch) == 2
    assert outbox.counts() == {"keymanager": 3, "telemetrydeck": 5}


def test_peek_filters_categories_and_discard(tmp_path):
    outbox = Outbox(Database(tmp_path / "c.db"))
    outbox.enqueue(ev(1, "feature.a"), ["telemetrydeck"], "usage")
    outbox.enqueue(ev(2, "perf.b"), ["telemetrydeck"], "performance")
    assert [q.category for q in outbox.peek("telemetrydeck", 10, ["performance"])] == ["performance"]
    assert outbox.peek("telemetrydeck", 10, []) == []
    assert outbox.discard(["usage"]) == 1
    assert outbox.counts_by_category() == {"performance": 1}


def test_corrupt_file_is_moved_aside_not_deleted(tmp_path):
    path = tmp_path / "c.db"
    garbage = b"this is not a database at all" * 200
    path.write_bytes(garbage)
    db = Database(path)
    outbox = Outbox(db)
    outbox.enqueue(ev(), ["telemetrydeck"], "usage")
    moved = list(tmp_path.glob("c.db.unusable-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == garbage
    assert db.notices and "moved to" in db.notices[0]


def test_foreign_sqlite_file_is_moved_aside(tmp_path):
    path = tmp_path / "c.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.execute("INSERT INTO photos VALUES (42)")
    conn.commit()
    conn.close()
    db = Database(path)
    db.open()
    (moved,) = tmp_path.glob("c.db.unusable-*")
    assert sqlite3.connect(moved).execute("SELECT id FROM photos").fetchone() == (42,)
    assert "another program" in db.notices[0]


def test_newer_schema_is_refused_not_moved(tmp_path):
    path = tmp_path / "c.db"
    Database(path).open()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer License Companion"):
        Database(path).open()
    assert not list(tmp_path.glob("c.db.unusable-*"))


def test_truncated_file_is_moved_aside(tmp_path):
    path = tmp_path / "c.db"
    outbox = Outbox(Database(path))
    for i in range(50):
        outbox.enqueue(ev(i), ["telemetrydeck"], "usage")
    outbox.db.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * 200 + data[300:])
    db = Database(path)
    db.open()
    assert list(tmp_path.glob("c.db.unusable-*"))


def _writer(path, n, tag):
    outbox = Outbox(Database(path))
    for i in range(n):
        outbox.enqueue(make_event(f"feature.{tag}", kind="number", value=i), ["telemetrydeck"], "usage")


def test_several_processes_write_at_once_without_loss(tmp_path):
    path = tmp_path / "c.db"
    Database(path).open()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 100, t)) for t in "abcd"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    outbox = Outbox(Database(path))
    assert outbox.counts() == {"telemetrydeck": 400}
    names = [q.event.name for q in outbox.peek("telemetrydeck", 1000)]
    assert {n: names.count(n) for n in set(names)} == {f"feature.{t}": 100 for t in "abcd"}


def test_state_lease_is_exclusive_until_it_expires(tmp_path):
    state = StateStore(Database(tmp_path / "c.db"))
    assert state.claim("lease:x", "me", now=100, ttl=10)
    assert not state.claim("lease:x", "you", now=105, ttl=10)
    assert state.claim("lease:x", "me", now=105, ttl=10)  # renew
    assert state.claim("lease:x", "you", now=200, ttl=10)  # expired
    state.release("lease:x", "me")  # not ours any more: no effect
    assert not state.claim("lease:x", "me", now=201, ttl=10)


def test_history_is_bounded_by_age_and_rows(tmp_path):
    now = [1_000_000.0]
    history = History(Database(tmp_path / "c.db"), max_days=1, max_rows=3, clock=lambda: now[0])
    outcome = Outcome(Verdict.DELIVERED, "830 ok", 200, 830, signature=SignatureStatus.VALID)
    history.record("keymanager", ["usage"], ["e0"], outcome)
    now[0] += 2 * 86_400
    for i in range(5):
        history.record("keymanager", ["usage"], [f"e{i}"], outcome)
    entries = history.entries()
    assert len(entries) == 3
    assert all(e.at == now[0] for e in entries)
    assert entries[0].signature == "valid" and entries[0].code == 830


def test_a_locked_database_is_an_error_not_corruption(tmp_path):
    path = tmp_path / "c.db"
    outbox = Outbox(Database(path))
    outbox.enqueue(ev(7), ["telemetrydeck"], "usage")
    outbox.db.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="cannot"):
            Outbox(Database(path, busy_timeout_ms=200)).enqueue(ev(8), ["telemetrydeck"], "usage")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(tmp_path.glob("c.db.unusable-*")), "a healthy file was moved aside"
    assert [q.event.value for q in Outbox(Database(path)).peek("telemetrydeck", 10)] == [7.0]


def test_a_failed_write_rolls_back_and_says_so(tmp_path):
    db = Database(tmp_path / "c.db")
    outbox = Outbox(db)
    with pytest.raises(StorageError, match="cannot write"), db.write() as conn:
        conn.execute("INSERT INTO outbox (backend) VALUES ('x')")  # NOT NULL constraint
    assert outbox.counts() == {}
    assert not db.connection().in_transaction
