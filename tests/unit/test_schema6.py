"""Schema 6: history rows keep the names of their request's events; old files still open.

``tests/fixtures/state-schema3.db`` was written by the schema-3 code itself, with a history
entry from before names were kept: it migrates and reads back with no names, and new entries
carry theirs.
"""

import shutil
import sqlite3

from app.model.wire import Outcome, Verdict
from app.storage.db import SCHEMA_VERSION, Database
from app.storage.history import History
from tests.fixtures import FIXTURES


def test_a_schema_3_history_reads_back_without_names_and_new_rows_keep_theirs(tmp_path):
    path = tmp_path / "companion.db"
    shutil.copyfile(FIXTURES / "state-schema3.db", path)
    db = Database(path)
    history = History(db)
    (old,) = history.entries()
    assert old.event_count >= 1 and old.event_names == ()
    assert old.to_dict()["events"] == []
    history.record("telemetrydeck", ["usage"], ["e1", "e2"],
                   Outcome(Verdict.DELIVERED, "HTTP 200", 200),
                   event_names=["feature.export", "feature.import"])
    new, again = history.entries()
    assert new.event_names == ("feature.export", "feature.import")
    assert new.to_dict()["events"] == ["feature.export", "feature.import"]
    assert again == old
    db.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 6
        assert "event_names" in {r[1] for r in conn.execute("PRAGMA table_info(history)")}
    finally:
        conn.close()


def test_a_damaged_names_cell_hides_nothing_else(tmp_path):
    db = Database(tmp_path / "c.db")
    history = History(db)
    history.record("keymanager", ["usage"], ["e1"], Outcome(Verdict.DELIVERED, "HTTP 200", 200),
                   event_names=["feature.export"])
    with db.write() as conn:
        conn.execute("UPDATE history SET event_names = '{not json'")
    (entry,) = history.entries()
    assert entry.event_names == () and entry.verdict == "delivered"
