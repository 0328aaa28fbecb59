"""``doctor``'s checks of the state database: intact and ours, and what waits in it per backend.

Why apart from ``report.py``: these read the companion's own file (read-only, never creating
it); the other checks look at the configuration, the keyring, the desktop and the network.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

from app.delivery.send_state import current_state
from app.doctor.check import Check, Verdict
from app.storage.db import APPLICATION_ID, SCHEMA_VERSION
from app.storage.drops import dropped_by_reason
from app.support.i18n import _

DB_NAME = "companion.db"  # the companion's file name in the state directory
OLD_EVENT = 7 * 86_400.0  # an event queued longer than this means something blocks sending


def _read_only(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True, timeout=2)


def check_database(db_path: Path) -> Check:
    """The state database: intact (``quick_check``), ours, and a schema this version knows."""
    if not db_path.exists():
        return Check("database", Verdict.OK,
                     _("{path} not created yet (nothing queued)").format(path=db_path))
    try:
        conn = _read_only(db_path)
        try:
            (result,) = conn.execute("PRAGMA quick_check").fetchone()
            (app_id,) = conn.execute("PRAGMA application_id").fetchone()
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("database", Verdict.FAIL,
                     _("{path} cannot be read: {error}").format(path=db_path, error=exc),
                     _("the companion moves an unusable file aside at its next start"))
    if result != "ok":
        return Check("database", Verdict.FAIL,
                     _("{path} is damaged: {error}").format(path=db_path, error=result),
                     _("the companion moves it aside at its next start (its events are lost)"))
    if app_id != APPLICATION_ID:
        return Check("database", Verdict.FAIL,
                     _("{path} is another program's SQLite file").format(path=db_path),
                     _("the companion moves it aside at its next start"))
    if version > SCHEMA_VERSION:
        return Check("database", Verdict.FAIL,
                     _("schema {version} is newer than this version knows ({known})").format(
                         version=version, known=SCHEMA_VERSION),
                     _("update the app, or use another --home"))
    return Check("database", Verdict.OK, _("quick_check ok, schema {version} (this version: "
                                           "{known})").format(version=version,
                                                              known=SCHEMA_VERSION))


def check_outbox(db_path: Path, backends: list[str], clock: Callable[[], float],
                 setups: Mapping[str, str] | None = None) -> list[Check]:
    """Per backend: how much waits, how old the oldest is, the last success and failure.

    ``setups``: each backend's ``setup_fingerprint``. A stop set under another setup (the
    vendor has mended what the server refused) no longer holds, as the sender sees it: the
    next round tries the new setup, so it is not reported as stopped.
    """
    if not db_path.exists():
        return [Check(f"{name} outbox", Verdict.OK, _("nothing queued")) for name in backends]
    try:
        conn = _read_only(db_path)
        try:
            rows = conn.execute("SELECT backend, count(*), min(enqueued_at) FROM outbox "
                                "GROUP BY backend").fetchall()
            queued = {name: (count, oldest) for name, count, oldest in rows}
            infos = {}
            for name in backends:
                row = conn.execute("SELECT value FROM state WHERE key = ?",
                                   (f"backend:{name}",)).fetchone()
                infos[name] = json.loads(row[0]) if row else {}
            removed = dropped_by_reason(conn)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError) as exc:
        return [Check("outbox", Verdict.FAIL, _("cannot be read: {error}").format(error=exc))]
    now = clock()
    checks = []
    for name in backends:
        count, oldest = queued.get(name, (0, None))
        info = infos[name]
        if setups and name in setups:
            info = current_state(info, setups[name])
        success, failure = info.get("last_success"), info.get("last_failure")
        parts = [_("{count} queued").format(count=count)]
        if oldest is not None:
            parts.append(_("oldest {age} old").format(age=_age(now - oldest)))
        parts.append(_("last success {success}, last failure {failure}").format(
            success=_when(success, now), failure=_when(failure, now)))
        gone = removed.get(name, {})
        if gone:  # every queued event removed unsent, per reason (app.storage.drops)
            parts.append(_("removed unsent: {counts}").format(
                counts=", ".join(f"{why} {n}" for why, n in sorted(gone.items()))))
        detail = "; ".join(parts)
        verdict, fix = Verdict.OK, ""
        if info.get("blocked"):
            verdict, fix = Verdict.FAIL, _("stopped: {reason}").format(reason=info["blocked"])
        elif failure and (not success or failure > success):
            verdict = Verdict.WARN
            detail += "; " + _("last error: {error}").format(
                error=info.get("last_error") or _("unknown"))
            fix = _("see the backend's steps above; events stay queued and are retried")
        elif oldest is not None and now - oldest > OLD_EVENT:
            verdict = Verdict.WARN
            fix = _("events wait for days: check consent (status) and the backend's steps above")
        checks.append(Check(f"{name} outbox", verdict, detail, fix))
    return checks


def stored_allow_metered(home: Path) -> bool:
    """The user's "Send on metered connections", read without writing (False when unknown)."""
    from app.core.settings import METERED_KEY

    db_path = home / DB_NAME
    if not db_path.is_file():
        return False
    try:
        conn = _read_only(db_path)
        try:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (METERED_KEY,)).fetchone()
        finally:
            conn.close()
        return row is not None and json.loads(row[0]) is True
    except (sqlite3.Error, ValueError):
        return False


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} days"


def _when(ts: float | None, now: float) -> str:
    return _("never") if not ts else _("{age} ago").format(age=_age(now - ts))
