"""Writers of one process queue on the database's own lock, not on SQLite's busy sleeps."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from app.model.errors import StorageError
from app.storage.db import Database
from app.storage.state import StateStore


def test_a_second_thread_writes_once_the_first_commits(tmp_path):
    db = Database(tmp_path / "c.db", busy_timeout_ms=10_000)
    state = StateStore(db)
    inside, release, done = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.write() as conn:
            conn.execute("INSERT INTO state (key, value) VALUES ('a', '1')")
            inside.set()
            release.wait(10)
            order.append("first")
        db.close()

    def second() -> None:
        state.set("b", 2)
        order.append("second")
        db.close()
        done.set()

    a = threading.Thread(target=first)
    a.start()
    assert inside.wait(10)
    b = threading.Thread(target=second)
    b.start()
    assert not done.wait(0.2)  # queued behind the open transaction, not failed
    release.set()
    a.join(10)
    b.join(10)
    assert order == ["first", "second"]
    other = sqlite3.connect(db.path)
    assert dict(other.execute("SELECT key, value FROM state")) == {"a": "1", "b": "2"}
    other.close()


def test_a_write_held_too_long_fails_the_other_with_a_clear_error(tmp_path):
    db = Database(tmp_path / "c.db", busy_timeout_ms=100)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.write():
            inside.set()
            release.wait(10)
        db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    try:
        with pytest.raises(StorageError, match="another write of this process"):
            StateStore(db).set("b", 2)
    finally:
        release.set()
        holder.join(10)
    StateStore(db).set("b", 2)  # the lock was given back
    assert StateStore(db).get("b") == 2


def test_a_nested_write_on_the_same_thread_does_not_wait_for_itself(tmp_path):
    db = Database(tmp_path / "c.db", busy_timeout_ms=100)
    state = StateStore(db)
    with db.write():
        state.set("a", 1)  # a savepoint inside, not a second lock
    assert state.get("a") == 1
