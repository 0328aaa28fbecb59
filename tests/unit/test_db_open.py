"""Opening the state database: what the quick opening (a ``track`` process) checks and leaves.

The quick opening reads the header and the schema only, so a damaged page elsewhere is found
by the next opening that reads every page (tray, status, send), which moves the file aside.
"""

from __future__ import annotations

import sqlite3

import pytest

from app.model.errors import StorageError
from app.model.event import make_event
from app.storage.db import SCHEMA_VERSION, Database
from app.storage.outbox import Outbox


def queued_file(tmp_path, events=400):
    path = tmp_path / "c.db"
    outbox = Outbox(Database(path))
    for i in range(events):
        outbox.enqueue(make_event("feature.x", kind="text", value="x" * 200 + str(i)),
                       ["telemetrydeck"], "usage")
    outbox.db.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def damage_the_outbox(path):
    """Garbage over every page of the outbox table and its indexes (never page 1, the
    schema's), so that reading the queue must touch a damaged page."""
    conn = sqlite3.connect(path)
    roots = [r for (r,) in conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'outbox' AND rootpage > 1")]
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert roots and len(data) > 8 * page
    for number in range(min(roots), len(data) // page + 1):
        start = (number - 1) * page
        data[start + 8:start + 2008] = b"\xa5" * 2000
    path.write_bytes(bytes(data))


def test_a_damaged_page_is_found_by_the_full_opening_and_moved_aside(tmp_path):
    path = queued_file(tmp_path)
    damage_the_outbox(path)
    quick = Database(path, check_pages=False)
    quick.open()  # header and schema are fine: the quick opening takes the file
    assert not list(tmp_path.glob("c.db.unusable-*")) and not quick.notices
    with pytest.raises((StorageError, sqlite3.DatabaseError)):
        # reading the damaged page fails loudly, it never reads as an empty queue
        Outbox(quick).peek("telemetrydeck", 1000)
    quick.close()
    full = Database(path)
    full.open()
    assert list(tmp_path.glob("c.db.unusable-*"))
    assert "moved to" in full.notices[0]


@pytest.mark.parametrize("check_pages", [True, False])
def test_both_openings_refuse_what_the_header_and_schema_show(tmp_path, check_pages):
    foreign = tmp_path / "c.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    Database(foreign, check_pages=check_pages).open()
    assert list(tmp_path.glob("c.db.unusable-*"))  # another program's file, moved aside

    newer = tmp_path / "n.db"
    Database(newer).open()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer License Companion"):
        Database(newer, check_pages=check_pages).open()

    garbage = tmp_path / "g.db"
    garbage.write_bytes(b"not a database" * 500)
    db = Database(garbage, check_pages=check_pages)
    db.open()
    assert list(tmp_path.glob("g.db.unusable-*")) and db.notices


def test_the_opening_connection_is_the_one_the_thread_then_uses(tmp_path):
    db = Database(tmp_path / "c.db", check_pages=False)
    db.open()
    first = db.connection()
    assert first is db.connection()
    assert first.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert first.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    db.close()
