"""A writer thread's WAL checkpoints run on a thread of their own, never inside its commits."""

from __future__ import annotations

import sqlite3

from app.storage.checkpoint import AUTOCHECKPOINT, Checkpointer
from app.storage.db import Database
from app.storage.state import StateStore
from tests.procs import wait_for


def wal_frames(db: Database) -> int:
    other = sqlite3.connect(db.path)
    try:  # a passive checkpoint that copies nothing new reports the log's size
        return other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        other.close()


def test_the_commits_leave_the_checkpoint_to_the_checkpointer(tmp_path):
    db = Database(tmp_path / "c.db")
    state = StateStore(db)
    checkpointer = Checkpointer(db, every=3)
    checkpointer.start()
    conn = db.connection()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    for i in range(2):
        state.set(f"k{i}", i)
    assert checkpointer.runs == 0  # not yet: every third commit
    state.set("k2", 2)
    assert wait_for(lambda: checkpointer.runs == 1)
    conn.set_trace_callback(None)
    assert not any("checkpoint" in s.lower() for s in statements)  # none in the commits
    checkpointer.stop()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (AUTOCHECKPOINT,)
    assert checkpointer.runs == 2  # the last one, at stop
    assert state.get("k2") == 2
    db.close()


def test_without_it_the_log_grows_until_a_checkpoint(tmp_path):
    db = Database(tmp_path / "c.db")
    state = StateStore(db)
    checkpointer = Checkpointer(db, every=1000)
    checkpointer.start()
    for i in range(20):
        state.set(f"k{i}", i)
    assert wal_frames(db) >= 20  # nothing copied back by the commits themselves
    checkpointer.stop()
    reopened = Database(db.path)
    assert StateStore(reopened).get("k19") == 19
    reopened.close()
    db.close()
