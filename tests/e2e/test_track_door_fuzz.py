"""The whole ``track`` door under arbitrary bytes: the real CLI, as a subprocess.

Whatever the name, value, payload and session hold (any code point, lone surrogates, bytes that
are not UTF-8), ``track`` ends in exactly one of two ways: exit 0 and the event is queued, or
exit 2 with the field named and nothing queued. Never 70 (an internal error).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

# A text of any code points, surrogates included, as the bytes a shell would pass: a surrogate
# becomes the (invalid) UTF-8 bytes of its code point, which Python reads back as \udcXX.
texts = st.text(st.characters(), max_size=12).map(lambda s: s.encode("utf-8", "surrogatepass"))
raw_bytes = st.binary(max_size=12)
fuzz = st.one_of(texts, raw_bytes).map(lambda b: b.replace(b"\x00", b""))  # argv has no NUL
# Names under a declared category get past the consent lookup and reach the character rules.
names = st.one_of(fuzz.map(lambda b: b"feature." + b), fuzz)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: [b"--value", repr(f).encode()]),
    fuzz.map(lambda b: [b"--text=" + b]),
    st.tuples(fuzz, fuzz).map(lambda p: [b"--xy", b"1" + p[0], b"2"]),
)
payloads = st.lists(st.tuples(fuzz, fuzz).map(lambda kv: b"--payload=" + kv[0] + b"=" + kv[1]),
                    max_size=2)
sessions = st.one_of(st.just([]), fuzz.map(lambda b: [b"--session=" + b]))


def queued(home: Path) -> int:
    db = home / "companion.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM outbox").fetchone()[0]


@pytest.fixture(scope="module")
def home():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, value=values, payload=payloads, session=sessions)
def test_track_exits_0_and_queues_or_exits_2_and_queues_nothing(home, name, value, payload,
                                                                session):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LICENSE_COMPANION_HOME": str(home)}
    # Options first and the name after "--", so a name like "--help" is still the name.
    argv = [os.fsencode(sys.executable), b"-m", b"app", b"track", *value, *payload, *session,
            b"--", name]
    before = queued(home)
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=60)
    after = queued(home)
    err = proc.stderr.decode("utf-8", "replace")
    event(f"exit {proc.returncode}")
    assert proc.returncode in (0, 2), f"exit {proc.returncode}: {err}"
    if proc.returncode == 0:
        assert after > before, proc.stdout
        assert b"queued " in proc.stdout
    else:
        assert after == before
        assert "error" in err and "internal error" not in err
        assert "Traceback" not in err


@pytest.mark.parametrize(("args", "field"), [
    ([b"track", b"\xff", b"--value", b"1"], "name"),
    ([b"track", b"feature.\xff", b"--value", b"1"], "name"),
    ([b"track", b"feature.x\x1b[2J", b"--value", b"1"], "name"),
    ([b"track", b"feature.\xe2\x80\xae", b"--value", b"1"], "name"),  # U+202E
    ([b"track", b"feature.x", b"--text", b"\xfe"], "value"),
    ([b"track", b"feature.x", b"--text", b"a\x07b"], "value"),
    ([b"track", b"feature.x", b"--value", b"1", b"--payload", b"App.k\xff=1"], "payload.App.k"),
    ([b"track", b"feature.x", b"--value", b"1", b"--payload", b"App.k=\xff"], "payload.App.k"),
    ([b"track", b"feature.x", b"--value", b"1", b"--session", b"\xff"], "session_id"),
])
def test_undecodable_or_control_bytes_are_exit_2_naming_the_field(home, args, field):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LICENSE_COMPANION_HOME": str(home)}
    before = queued(home)
    proc = subprocess.run([os.fsencode(sys.executable), b"-m", b"app", *args], env=env, cwd=ROOT,
                          capture_output=True, timeout=60)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert f"error: {field}" in err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert queued(home) == before
