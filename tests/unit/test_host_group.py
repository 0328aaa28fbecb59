"""Nested ``Database.write()``: savepoints inside one transaction (what group commit is)."""

from __future__ import annotations

import sqlite3

import pytest

from app.model.errors import StorageError
from app.storage.db import Database
from app.storage.state import StateStore


@pytest.fixture()
def db(tmp_path):
    database = Database(tmp_path / "state.db")
    yield database
    database.close()


def stored(db: Database) -> dict[str, str]:
    other = sqlite3.connect(db.path)  # another connection sees only what was committed
    try:
        return dict(other.execute("SELECT key, value FROM state"))
    finally:
        other.close()


def test_inner_writes_are_invisible_until_the_outer_commit(db):
    state = StateStore(db)
    with db.write():
        state.set("a", 1)
        state.set("b", 2)
        assert stored(db) == {}
    assert stored(db) == {"a": "1", "b": "2"}


def test_a_failing_inner_write_rolls_back_alone(db):
    state = StateStore(db)
    with db.write():
        state.set("a", 1)
        with pytest.raises(ZeroDivisionError), db.write() as conn:
            conn.execute("INSERT INTO state (key, value) VALUES ('b', '2')")
            raise ZeroDivisionError
        state.set("c", 3)
    assert stored(db) == {"a": "1", "c": "3"}


def test_an_sql_error_inside_is_a_storage_error_and_the_rest_survives(db):
    state = StateStore(db)
    with db.write():
        state.set("a", 1)
        with pytest.raises(StorageError), db.write() as conn:
            conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert stored(db) == {"a": "1"}


def test_the_outer_failure_drops_everything(db):
    state = StateStore(db)
    with pytest.raises(RuntimeError), db.write():
        state.set("a", 1)
        raise RuntimeError("crash before the commit")
    assert stored(db) == {}
    state.set("after", 1)  # the connection is usable again, not stuck in a transaction
    assert stored(db) == {"after": "1"}


def test_one_commit_for_a_whole_group(db):
    state = StateStore(db)
    statements: list[str] = []
    db.connection().set_trace_callback(statements.append)
    with db.write():
        for i in range(5):
            state.set(f"k{i}", i)
    db.connection().set_trace_callback(None)
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == \
        ["BEGIN IMMEDIATE", "COMMIT"]
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 5


def test_nesting_is_per_thread(db):
    import threading

    state = StateStore(db)
    seen: list[dict[str, str]] = []
    with db.write():
        state.set("mine", 1)
        worker = threading.Thread(target=lambda: (state.set("theirs", 2),
                                                  seen.append(stored(db))))
        worker.start()
        worker.join(0.3)  # blocked by our write lock: it is a transaction of its own
        assert worker.is_alive()
    worker.join(10)
    assert seen == [{"mine": "1", "theirs": "2"}]
