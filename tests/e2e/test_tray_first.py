"""The tray started with no options under a real X session (Xvfb + openbox + trayer): the icon
is shown before the command line is read, and the tray it becomes is the whole tray: one
instance, it sends what a ``track`` stores, it quits cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.receiver import TelemetryDeckReceiver
from tests.e2e.test_tray_x11 import desktop  # noqa: F401 - the fixture
from tests.procs import terminate, wait_for
from tests.ui.conftest import write_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_the_option_less_tray_shows_its_icon_first_and_then_works(desktop, tmp_path):  # noqa: F811
    with TelemetryDeckReceiver() as td:
        config = write_config(tmp_path / "cfg" / "companion.toml", "", td.url)
        sockdir = Path(tempfile.mkdtemp(prefix="lcf-", dir="/tmp"))  # short AF_UNIX path
        home = tmp_path / "home"
        env = {**desktop.env, "LICENSE_COMPANION_HOME": str(home),
               "LICENSE_COMPANION_CONFIG": str(config),
               "LICENSE_COMPANION_HOST_SOCKET": str(sockdir / "host.sock"),
               "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO),
               "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
        env.pop("DO_NOT_TRACK", None)

        def cli(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=60)

        assert cli("consent", "grant").returncode == 0  # no consent window at start
        tray = subprocess.Popen([sys.executable, "-m", "app"], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: desktop.docked_icon(tray.pid), 30, "the tray icon to dock", step=0.02)
            log = home / "logs" / "companion.log"
            wait_for(lambda: log.exists() and "worker ready" in log.read_text(), 30,
                     "the worker")
            text = log.read_text()
            assert "before the command line was read" in text
            assert text.index("before the command line was read") < text.index("worker ready")

            second = cli("tray")  # no options too: the lock is held, so the ordinary start
            assert second.returncode == 0 and "already running" in second.stdout

            assert cli("track", "feature.export", "--value", "7").returncode == 0
            wait_for(lambda: len(td.accepted_events()) == 1, 30, "the event to be sent")
            tray.send_signal(signal.SIGTERM)
            assert tray.wait(30) == 0
        finally:
            if tray.poll() is None:
                terminate(tray)
            else:
                tray.communicate()
            for leftover in sockdir.iterdir():
                leftover.unlink()
            sockdir.rmdir()
