"""Schema 4: the queue counted per backend and category; a schema-3 file is migrated whole.

``tests/fixtures/state-schema3.db`` was written by the schema-3 code itself (events for both
backends in two categories, two of them already acknowledged for KeyManager, one in flight, a
consent decision and a history entry), so the migration is tested on a real old file.
"""

import shutil
import sqlite3

from app.model.event import make_event
from app.storage.db import SCHEMA_VERSION, Database
from app.storage.history import History
from app.storage.outbox import Outbox
from app.storage.state import StateStore
from tests.fixtures import FIXTURES

BOTH = ["keymanager", "telemetrydeck"]


def _old_file(tmp_path):
    path = tmp_path / "companion.db"
    shutil.copyfile(FIXTURES / "state-schema3.db", path)
    return path


def _true_counts(db):
    rows = db.connection().execute(
        "SELECT backend, category, count(*) FROM outbox GROUP BY backend, category")
    return {(b, c): n for b, c, n in rows.fetchall()}


def _counters(db):
    rows = db.connection().execute("SELECT backend, category, n FROM outbox_count WHERE n > 0")
    return {(b, c): n for b, c, n in rows.fetchall()}


def test_the_fixture_is_a_schema_3_file():
    conn = sqlite3.connect(f"file:{FIXTURES / 'state-schema3.db'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "outbox_size" in names and "outbox_count" not in names


def test_a_schema_3_file_keeps_its_queue_history_and_consent(tmp_path):
    db = Database(_old_file(tmp_path))
    outbox = Outbox(db)
    conn = db.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 4
    assert _counters(db) == _true_counts(db) == {
        ("keymanager", "usage"): 4, ("keymanager", "performance"): 3,
        ("telemetrydeck", "usage"): 7, ("telemetrydeck", "performance"): 3}
    assert outbox.counts() == {"keymanager": 7, "telemetrydeck": 10}
    assert outbox.counts_by_category(backend="telemetrydeck", exclude=["usage"]) == \
        {"performance": 3}
    assert outbox.counts_by_category() == {"usage": 7, "performance": 3}
    first = outbox.peek("telemetrydeck", 1)[0]
    assert first.event.id == "usage0" and first.unanswered == 1  # the in-flight mark survived
    assert [q.event.id for q in outbox.peek("keymanager", 2)] == ["usage2", "usage3"]
    assert StateStore(db).get("consent")["decisions"]["usage"]["choice"] == "granted"
    assert [(e.backend, e.event_count, e.verdict) for e in History(db).entries()] == \
        [("keymanager", 2, "delivered")]
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "outbox_size" not in names and "outbox_size_insert" not in names
    db.close()


def test_the_counters_follow_every_change_after_the_migration(tmp_path):
    db = Database(_old_file(tmp_path))
    outbox = Outbox(db, cap=10)
    for i in range(3):  # TelemetryDeck is at its cap of 10: its oldest make room
        ev = make_event("feature.x", kind="number", value=i)
        assert outbox.enqueue(ev, BOTH, "usage").dropped == 1
    assert _counters(db) == _true_counts(db)
    assert outbox.counts() == {"keymanager": 10, "telemetrydeck": 10}
    outbox.ack([q.seq for q in outbox.peek("telemetrydeck", 2)])
    assert _counters(db) == _true_counts(db)
    with db.write() as conn:  # a row moved to another category (no code does; the trigger does)
        conn.execute("UPDATE outbox SET category = 'other' WHERE seq = "
                     "(SELECT max(seq) FROM outbox)")
    assert _counters(db) == _true_counts(db)
    outbox.discard(["performance"])
    assert _counters(db) == _true_counts(db)
    outbox.discard()
    assert outbox.counts() == {} and _counters(db) == {} == _true_counts(db)


def test_the_undecided_hold_counts_distinct_events_once_the_rows_pass_it(tmp_path):
    db = Database(tmp_path / "c.db")
    outbox = Outbox(db)
    results = [outbox.enqueue(make_event("perf.x", kind="number", value=i), BOTH, "performance",
                              hold=3) for i in range(5)]
    # 2 backends: 4 rows are still 2 events; the hold counts events, not rows.
    assert [r.held_dropped for r in results] == [0, 0, 0, 1, 1]
    assert outbox.counts_by_category() == {"performance": 3}


def test_a_group_is_stored_in_one_transaction_with_the_bounds_applied_once(tmp_path):
    db = Database(tmp_path / "c.db")
    outbox = Outbox(db, cap=3)
    events = [(make_event("feature.x", kind="number", value=i), "usage") for i in range(5)]
    statements: list[str] = []
    db.connection().set_trace_callback(statements.append)
    cost = outbox.enqueue_many(events, BOTH)
    db.connection().set_trace_callback(None)
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert cost.dropped == 4  # 2 of the oldest per backend
    assert [q.event.value for q in outbox.peek("keymanager", 10)] == [2.0, 3.0, 4.0]
    assert outbox.counts() == {"keymanager": 3, "telemetrydeck": 3}
