"""A damaged or hostile state directory, through the real ``license-companion`` process.

Each test damages real files the way a disk, an old version or another program would: a row
whose text is not UTF-8, bytes over the schema, a server's error body with terminal escapes,
a directory others can read. The CLI must keep going, say what happened, and never exit 70.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.receiver import Respond, TelemetryDeckReceiver
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(180)

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J"
ESCAPED = "\\x1b]0;PWNED\\x07\\x1b[2J"
IDENTITY = Identity("u" * 32, "a" * 32, "test", "test")


@pytest.fixture()
def receiver():
    with TelemetryDeckReceiver() as td:
        yield td


@pytest.fixture()
def setup(tmp_path, receiver):
    config = write_vendor_config(tmp_path / "companion.toml",
                                 telemetrydeck=telemetrydeck(receiver.url, timeout=3))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    env.update(LICENSE_COMPANION_HOME=str(home), LICENSE_COMPANION_CONFIG=str(config),
               QT_QPA_PLATFORM="offscreen",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return config, home, env


def queue(config: Path, home: Path, count: int) -> None:
    """``count`` events queued and consented, with the real companion."""
    companion = build_companion(load_config(config), home, identity=lambda: IDENTITY, environ={})
    try:
        companion.grant()
        for i in range(count):
            companion.track(f"feature.e{i}", kind="number", value=i)
    finally:
        companion.close()


def run(env, *args, stdin: bytes | None = None, umask: int | None = None):
    proc = subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          timeout=90, input=stdin,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode != 70 and "Traceback" not in err, (args, proc.returncode, out, err)
    return proc.returncode, out, err


def db_rows(home: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(home / "companion.db")
    try:
        conn.text_factory = bytes
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def damage(home: Path, sql: str) -> None:
    conn = sqlite3.connect(home / "companion.db")
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


# -- rows that do not read back ----------------------------------------------------------------


def test_an_undecodable_row_is_kept_aside_by_send_and_the_rest_delivered(setup, receiver):
    config, home, env = setup
    queue(config, home, 6)
    damage(home, "UPDATE outbox SET event = CAST(X'7B22FF22' AS TEXT) WHERE seq = 3")
    # queued by an older version whose rules let a bidi override through
    (body,) = db_rows(home, "SELECT event FROM outbox WHERE seq = 4")[0]
    old = json.loads(body)
    old["name"] = "feature.\u202eexe"
    damage(home, "UPDATE outbox SET event = '" + json.dumps(old).replace("'", "''")
           + "' WHERE seq = 4")

    # Reading does not destroy: preview leaves both rows where they are.
    code, out, _ = run(env, "preview")
    assert code == 0 and "Could not decode" not in out
    assert [r[0] for r in db_rows(home, "SELECT seq FROM outbox ORDER BY seq")] == [1, 2, 3, 4, 5, 6]

    code, out, err = run(env, "send")
    assert code == 0, out + err
    assert "outbox empty" in out
    names = sorted(s["type"] for s in receiver.accepted_events())
    assert names == ["feature.e0", "feature.e1", "feature.e4", "feature.e5"]
    kept = db_rows(home, "SELECT seq, backend, event FROM outbox_quarantine ORDER BY seq")
    assert [(seq, backend) for seq, backend, _ in kept] == [(3, b"telemetrydeck"),
                                                           (4, b"telemetrydeck")]
    assert kept[0][2] == b'{"\xff"'  # the bytes as they were, not deleted

    code, out, _ = run(env, "status", "--json")
    assert json.loads(out)["backends"]["telemetrydeck"]["unreadable"] == 2
    code, out, _ = run(env, "status")
    assert "2 unreadable, kept aside unsent" in out


# -- damaged schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["track", "feature.x", "--value", "1"], ["send"], ["preview"], ["status"], ["consent"],
])
def test_bad_bytes_in_the_schema_move_the_file_aside(setup, command):
    config, home, env = setup
    queue(config, home, 1)
    path = home / "companion.db"
    data = bytearray(path.read_bytes())
    at = data.find(b"history_at")
    assert 0 < at < 4096  # on page 1, the schema's page
    data[at:at + 2] = b"\xf0\x28"
    path.write_bytes(bytes(data))

    code, out, err = run(env, *command)
    assert code in (0, 1), (code, out, err)
    assert "moved aside" in err
    assert list(home.glob("companion.db.unusable-*"))
    ok = sqlite3.connect(path).execute("PRAGMA quick_check").fetchone()[0]
    assert ok == "ok"  # a new one was started


# -- what a server said, on the terminal --------------------------------------------------------


def test_a_servers_terminal_escapes_are_shown_spelled_out(setup, receiver):
    config, home, env = setup
    queue(config, home, 1)
    receiver.script(Respond(500, HOSTILE.encode(), {"Content-Type": "text/plain"}))
    for args in (["send"], ["status"], ["history"]):
        _, out, err = run(env, *args)
        assert "\x1b" not in out + err and "\x07" not in out + err, args
        assert ESCAPED in out, (args, out)


# -- who may read the data --------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_is_private_whatever_the_umask(setup):
    _, home, env = setup
    code, _, _ = run(env, "track", "feature.x", "--value", "1", umask=0)
    assert code == 0
    assert mode(home) == 0o700
    assert mode(home / "companion.db") == 0o600
    assert mode(home / "logs") == 0o700
    assert mode(home / "logs" / "companion.log") == 0o600
    for side in ("companion.db-wal", "companion.db-shm"):
        if (home / side).exists():
            assert mode(home / side) == 0o600


def test_sidecar_files_are_private_while_the_database_is_open(setup):
    config, home, _ = setup
    old = os.umask(0)
    try:
        companion = build_companion(load_config(config), home, identity=lambda: IDENTITY,
                                    environ={})
        try:
            companion.track("feature.x", kind="number", value=1)
            sides = [home / "companion.db-wal", home / "companion.db-shm"]
            assert all(p.exists() for p in sides)
            assert [mode(p) for p in sides] == [0o600, 0o600]
        finally:
            companion.close()
    finally:
        os.umask(old)


def test_a_looser_existing_directory_is_tightened_once_and_said(setup):
    config, home, env = setup
    home.mkdir()
    os.chmod(home, 0o755)
    companion = build_companion(load_config(config), home, identity=lambda: IDENTITY, environ={})
    try:
        warnings = companion.status().warnings
    finally:
        companion.close()
    assert mode(home) == 0o700
    assert any("readable by other users" in w and "755" in w for w in warnings)
    _, out, _ = run(env, "status")
    assert "readable by other users" not in out  # once: it is private now
    (home / "logs").chmod(0o700)


def test_the_inbox_is_private(tmp_path):
    from app.storage.inbox import Inbox

    folder = tmp_path / "inbox"
    folder.mkdir()
    folder.chmod(0o777)
    Inbox(folder).ensure()
    assert mode(folder) == 0o700


# -- what the environment did, in words ---------------------------------------------------------


def test_invalid_utf8_on_license_sets_stdin_is_named_as_such(setup):
    _, _, env = setup
    code, _, err = run(env, "license", "set", stdin=b"AB12-\xff\xfe-CD34\n")
    assert code == 2
    assert "not UTF-8" in err and "keyring" not in err.lower()


def test_text_from_the_vendor_config_and_stored_history_is_shown_spelled_out(tmp_path, setup):
    config, home, env = setup
    text = config.read_text().replace('title = "Feature usage"',
                                      'title = "Usage \\u001b]0;PWNED\\u0007\\u001b[2J"')
    assert text != config.read_text()
    config.write_text(text)
    queue(config, home, 1)
    # a message an older version stored as the server sent it
    damage(home, "INSERT INTO history (at, backend, categories, event_count, verdict, "
           "message, signature, event_ids) VALUES (1, 'telemetrydeck', '[\"usage\"]', 1, "
           "'retry', 'HTTP 500: ' || char(27) || ']0;PWNED' || char(7) || char(27) || '[2J', "
           "'n/a', '[]')")
    for args in (["consent"], ["history"]):
        _, out, err = run(env, *args)
        assert "\x1b" not in out + err and "\x07" not in out + err, (args, out)
        assert ESCAPED in out, (args, out)
