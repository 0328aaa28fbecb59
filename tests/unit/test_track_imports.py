"""``track`` on the command line loads the model and the outbox, nothing that only sending needs.

A vendor's product runs ``license-companion track`` once per event, each a process of its own;
what it imports is what every event costs. Checked on the modules, never on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui.conftest import write_config

REPO = Path(__file__).resolve().parents[2]
# Only ``send``, ``preview``, ``status`` and the license commands need these.
HEAVY = ("requests", "urllib3", "keyring", "cryptography", "truststore", "certifi",
         "PySide6", "app.delivery.http", "app.delivery.sender", "app.backends",
         "app.core.license", "app.core.identity", "platformdirs")
PROBE = """
import json, sys
from app.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # a usage error: the modules it needed are still of interest
    code = exc.code
sys.stdout.flush()
print("MODULES=" + json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


def modules_after(tmp_path: Path, *argv: str, home: bool = True) -> tuple[int, str, set[str]]:
    """Run one command in a fresh interpreter; its exit code, output and ``sys.modules``."""
    config = write_config(tmp_path / "cfg" / "companion.toml", "http://127.0.0.1:9",
                          "http://127.0.0.1:9")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LICENSE_COMPANION_CONFIG": str(config),
           "XDG_DATA_HOME": str(tmp_path / "xdg")}
    env.pop("LICENSE_COMPANION_HOME", None)
    args = ["--home", str(tmp_path / "home"), *argv] if home else list(argv)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    out, _, modules = proc.stdout.rpartition("MODULES=")
    assert modules, proc.stderr[-2000:]
    return proc.returncode, out, set(json.loads(modules))


# Nor what only other commands, other platforms, a mistake or a running tray need: the
# whole parser's help machinery, the rotating log handler (no file is opened until something
# is logged), the keyring stores, the tray's commands, the host protocol, macOS plists, the
# socket module (no tray's socket exists here), the file-moving and typo-hint helpers, and
# `uuid` (it imports `platform` on Linux; ids are made from os.urandom), argparse (a plain
# track line is read without it), the wire format (only sending and history need it), the
# preview's answers and gettext (a config without translations needs no catalog).
UNNEEDED = ("logging.handlers", "app.storage.keyring.stores", "app.storage.keyring.license_store",
            "app.storage.keyring.access", "app.cli.tray", "app.door.protocol",
            "app.storage.inbox", "plistlib", "socket", "shutil", "difflib", "uuid", "platform",
            "argparse", "app.model.wire", "app.core.companion_types", "gettext")


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def unneeded(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in UNNEEDED)


def test_track_imports_neither_http_nor_keyring_nor_crypto(tmp_path):
    code, out, modules = modules_after(tmp_path, "track", "feature.export", "--value", "1")
    assert code == 0, out
    assert "queued feature.export" in out
    assert {"app.storage.outbox", "app.model.event"} <= modules
    assert heavy(modules) == []
    # The first call made the database and logged its schema (so it opened the log file);
    # every call after it logs nothing and imports nothing it does not use.
    code, out, modules = modules_after(tmp_path, "track", "feature.export", "--value", "2")
    assert code == 0 and "queued feature.export" in out
    assert unneeded(modules) == [] and heavy(modules) == []


@pytest.mark.skipif(sys.platform == "win32", reason="its last step is the POSIX mode notice")
def test_a_track_that_logs_nothing_opens_no_log_file(tmp_path):
    assert modules_after(tmp_path, "track", "feature.a", "--value", "1")[0] == 0
    log = tmp_path / "home" / "logs" / "companion.log"
    assert "migrated to schema" in log.read_text()  # the first one said something
    log.unlink()
    assert modules_after(tmp_path, "track", "feature.b", "--value", "2")[0] == 0
    assert not log.exists()
    (tmp_path / "home").chmod(0o755)  # something to say: it is logged, the file is made
    assert modules_after(tmp_path, "track", "feature.c", "--value", "3")[0] == 0
    assert "readable by other users" in log.read_text()


def test_the_check_sees_what_a_mistake_imports(tmp_path):
    # A line the plain reader leaves alone builds the whole parser (and its help machinery).
    code, _, modules = modules_after(tmp_path, "track", "feature.export", "--value", "x")
    assert code == 2 and "shutil" in modules


@pytest.mark.skipif(sys.platform == "win32", reason="the Linux XDG path without platformdirs")
def test_track_in_the_default_state_dir_does_not_import_platformdirs(tmp_path):
    code, out, modules = modules_after(tmp_path, "track", "feature.export", "--value", "1",
                                       home=False)
    assert code == 0, out
    assert (tmp_path / "xdg" / "license-companion" / "companion.db").is_file()
    assert heavy(modules) == []


def test_the_check_sees_what_send_imports(tmp_path):
    # The same reading finds the HTTP stack when a command really sends.
    assert modules_after(tmp_path, "consent", "grant")[0] == 0
    assert modules_after(tmp_path, "track", "feature.export", "--value", "1")[0] == 0
    code, _, modules = modules_after(tmp_path, "send")
    assert code == 1  # nothing listens on port 9: the event stays queued
    assert {"requests", "app.delivery.sender", "app.delivery.http"} <= modules


def test_status_reads_the_send_state_without_the_http_stack(tmp_path):
    code, _, modules = modules_after(tmp_path, "status")
    assert code in (0, 1)
    assert "app.delivery.sender" in modules and "requests" not in modules


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rule is Linux's")
def test_the_linux_state_dir_is_platformdirs_own(monkeypatch, tmp_path):
    import platformdirs

    from app import APP_ID
    from app.storage.paths import HOME_ENV, state_dir

    monkeypatch.delenv(HOME_ENV, raising=False)
    for value in (str(tmp_path / "data"), "", "  ", "relative/dir"):
        monkeypatch.setenv("XDG_DATA_HOME", value)
        expected = Path(platformdirs.user_data_dir(APP_ID, appauthor=False, roaming=False))
        assert state_dir() == expected
    monkeypatch.delenv("XDG_DATA_HOME")
    assert state_dir() == Path(platformdirs.user_data_dir(APP_ID, appauthor=False,
                                                          roaming=False))


def test_the_lazy_http_client_has_the_real_clients_timeout_and_makes_it_once():
    from app.delivery.http import HttpClient
    from app.delivery.lazy_http import LazyHttpClient

    for seconds in (0.5, 10.0, 15.0, 60.0):
        lazy = LazyHttpClient(seconds)
        assert lazy._client is None
        real = HttpClient(seconds)
        try:
            assert lazy.timeout == real.timeout
            assert lazy.trust == real.trust  # forwarded: the real client is made now
            assert isinstance(lazy._client, HttpClient)
            assert lazy.client is lazy.client
        finally:
            real.close()
            lazy.close()
