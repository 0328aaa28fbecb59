"""The SQLite outbox, state and history: durable, bounded, safe for several writers."""

import multiprocessing
import sqlite3

import pytest

from app.model.errors import StorageError
from app.model.event import make_event
from app.model.wire import Outcome, PreparedRequest, SignatureStatus, Verdict
from app.storage.db import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Database, _statements
from app.storage.history import History
from app.storage.outbox import HELD_DROPPED, Outbox
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
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID == 0x4C434F4D
    db.close()
    # In the file itself (header offset 68, big-endian), where `file(1)` and others look.
    header = (tmp_path / "c.db").read_bytes()[:100]
    assert header[68:72] == b"LCOM"


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


# --- the queue-size counter, the undecided hold, and schema 2 ---------------------------


def _true_sizes(db):
    rows = db.connection().execute("SELECT backend, count(*) FROM outbox GROUP BY backend")
    return dict(rows.fetchall())


def test_the_size_counter_follows_every_way_rows_leave(tmp_path):
    db = Database(tmp_path / "c.db")
    outbox = Outbox(db, cap=10)
    both = ["keymanager", "telemetrydeck"]
    for i in range(14):  # past the cap: the oldest are dropped
        outbox.enqueue(ev(i), both, "usage")
    assert outbox.counts() == _true_sizes(db) == {"keymanager": 10, "telemetrydeck": 10}
    outbox.ack(q.seq for q in outbox.peek("keymanager", 3))
    assert outbox.counts() == _true_sizes(db) == {"keymanager": 7, "telemetrydeck": 10}
    for i in range(5):
        outbox.enqueue(ev(100 + i, "perf.x"), both, "performance", hold=2)
    assert outbox.counts() == _true_sizes(db)
    with db.write() as conn:  # a row that no longer reads back is quarantined on peek
        conn.execute("UPDATE outbox SET event = '{}' WHERE seq = (SELECT min(seq) FROM outbox "
                     "WHERE backend = 'telemetrydeck')")
    outbox.peek("telemetrydeck", 100)
    assert outbox.counts() == _true_sizes(db)
    assert outbox.discard(backend="keymanager") > 0
    assert outbox.counts() == _true_sizes(db) and "keymanager" not in outbox.counts()
    outbox.discard()
    assert outbox.counts() == {} == _true_sizes(db)


def test_the_cap_holds_at_the_counter_not_at_a_count(tmp_path):
    outbox = Outbox(Database(tmp_path / "c.db"), cap=10)
    for i in range(10):
        assert outbox.enqueue(ev(i), ["telemetrydeck"], "usage").dropped == 0
    assert outbox.enqueue(ev(10), ["telemetrydeck"], "usage").dropped == 1
    assert outbox.peek("telemetrydeck", 100)[0].event.value == 1.0


def test_the_undecided_hold_drops_in_the_same_write(tmp_path):
    db = Database(tmp_path / "c.db")
    outbox = Outbox(db)
    results = [outbox.enqueue(ev(i), ["keymanager", "telemetrydeck"], "usage", hold=3)
               for i in range(5)]
    assert [r.held_dropped for r in results] == [0, 0, 0, 1, 1]
    assert outbox.counts_by_category() == {"usage": 3}
    assert [q.event.value for q in outbox.peek("keymanager", 10)] == [2.0, 3.0, 4.0]
    assert outbox.category_counters() == {"usage": {"declined": 0, "dropped_undecided": 2}}
    assert db.connection().execute("SELECT value FROM counters WHERE key = ?",
                                   (HELD_DROPPED + "usage",)).fetchone() == (2,)


def test_schema_1_files_are_migrated_with_their_queue_and_history(tmp_path):
    path = tmp_path / "c.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    body = '{"id":"e1","name":"feature.x","kind":"number","value":1.0,"payload":{},' \
           '"timestamp":1.0,"session_id":"s"}'
    for backend in ("keymanager", "keymanager", "telemetrydeck"):
        conn.execute("INSERT INTO outbox (backend, event_id, category, event, enqueued_at) "
                     "VALUES (?, 'e1', 'usage', ?, 1.0)", (backend, body))
    conn.execute("INSERT INTO history (at, backend, categories, event_count, verdict, message, "
                 "signature, event_ids) VALUES (5.0, 'keymanager', '[\"usage\"]', 1, "
                 "'delivered', '830', 'valid', '[\"e0\"]')")
    conn.close()
    db = Database(path)
    outbox = Outbox(db, cap=2)
    assert db.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert outbox.counts() == {"keymanager": 2, "telemetrydeck": 1}  # counted once, at migration
    (old,) = History(db).entries()
    assert old.request is None and old.to_dict()["request"] is None
    assert outbox.enqueue(ev(9), ["keymanager"], "usage").dropped == 1  # the cap sees old rows


def test_history_keeps_the_request_it_is_given(tmp_path):
    history = History(Database(tmp_path / "c.db"))
    request = PreparedRequest("telemetrydeck", "POST", "https://nom.example/v2/",
                              (("Content-Type", "application/json; charset=utf-8"),),
                              '[{"type":"feature.x","text":"caf\u00e9 ☕"}]'.encode(),
                              ("e1", "e2"))
    outcome = Outcome(Verdict.DELIVERED, "HTTP 200", 200)
    history.record("telemetrydeck", ["usage"], request.event_ids, outcome, request=request)
    history.record("telemetrydeck", ["usage"], ["e3"], outcome)  # no request: still an entry
    newer, older = history.entries()
    assert newer.request is None
    assert older.request == request
    assert older.to_dict()["request"]["body"] == request.body.decode()


def test_a_damaged_stored_request_does_not_hide_the_entry(tmp_path):
    db = Database(tmp_path / "c.db")
    history = History(db)
    outcome = Outcome(Verdict.DELIVERED, "HTTP 200", 200)
    for damaged in ("{not json", '{"backend": "x"}', "[1, 2]", '"text"'):
        history.record("telemetrydeck", ["usage"], ["e1"], outcome)
        with db.write() as conn:
            conn.execute("UPDATE history SET request = ? WHERE id = (SELECT max(id) FROM history)",
                         (damaged,))
    entries = history.entries()
    assert len(entries) == 4 and all(e.request is None for e in entries)


def test_a_trigger_body_stays_one_statement():
    (trigger,) = [s for s in _statements(MIGRATIONS[1]) if "outbox_size_insert" in s]
    assert trigger.startswith("CREATE TRIGGER") and trigger.rstrip().endswith("END;")
