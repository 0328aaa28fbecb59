"""Windows privacy done the Windows way: the state under the user's LOCALAPPDATA, no POSIX mode
checks (every folder reports 0777 there, so the check always "tightened" and warned), and a
damaged database moved aside with every handle on it closed first (an open file cannot be
renamed on Windows: WinError 32).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

import platformdirs

from app import APP_ID
from app.storage import files
from app.storage.db import Database
from app.storage.paths import state_dir
from tests.windows.cli import cli_env, run_cli

WARNING = "readable by other users"


def test_the_state_lives_under_the_users_localappdata(monkeypatch):
    monkeypatch.delenv("LICENSE_COMPANION_HOME")
    local = Path(platformdirs.user_data_dir(roaming=False))
    assert os.path.normcase(local) == os.path.normcase(os.environ["LOCALAPPDATA"])
    assert os.path.normcase(state_dir()) == os.path.normcase(Path(os.environ["LOCALAPPDATA"]) / APP_ID)


def test_posix_modes_are_not_checked_on_windows(tmp_path, caplog):
    assert files.POSIX_MODES is False
    folder = tmp_path / "state" / "nested"
    assert files.private_dir(folder) is None
    assert folder.is_dir()
    caplog.set_level(logging.DEBUG)
    assert files.private_dir(folder) is None  # an existing folder (Windows reports mode 777)
    db_file = folder / "companion.db"
    files.private_file(db_file)
    assert db_file.is_file() and db_file.stat().st_size == 0
    assert not [r for r in caplog.records if WARNING in r.getMessage() or "mode" in r.getMessage()]


def test_opening_the_database_again_gives_no_mode_notice(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    path = tmp_path / "home" / "companion.db"
    for _ in range(2):  # the second opening finds the folder the first one made
        db = Database(path)
        db.open()
        assert db.notices == []
        db.close()
    assert not [r for r in caplog.records if WARNING in r.getMessage()]


def test_the_cli_never_warns_about_modes(tmp_path):
    env = cli_env(LICENSE_COMPANION_HOME=str(tmp_path / "home"))
    for _ in range(2):  # the second run finds the state directory the first one made
        proc = run_cli(env, "status", "--json")
        assert proc.returncode == 0, proc.stderr
        assert WARNING not in proc.stderr and "0700" not in proc.stderr
        status = json.loads(proc.stdout)
        assert not [w for w in status.get("warnings", []) if WARNING in str(w)]
    assert os.path.normcase(status["state_dir"]) == os.path.normcase(tmp_path / "home")


def test_a_damaged_database_is_moved_aside(tmp_path):
    path = tmp_path / "home" / "companion.db"
    path.parent.mkdir()
    garbage = b"this is not an SQLite database, it is a damaged file. " * 200
    path.write_bytes(garbage)
    db = Database(path)
    db.open()  # WinError 32 here if a handle on the damaged file were still open
    assert len(db.notices) == 1 and "moved to" in db.notices[0]
    aside = [p for p in path.parent.iterdir() if ".unusable-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    with db.write() as conn:
        conn.execute("SELECT 1")
    db.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        check.close()
    path.unlink()  # nothing holds the new file either
