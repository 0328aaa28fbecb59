"""The tray started before the desktop's panel: its icon appears once the panel does.

Xvfb and openbox first, the real ``license-companion tray`` next, and only then trayer (the
panel with a system tray, XEmbed), as at a login where the panel comes up late. Until the
panel is there, ``status`` and ``doctor`` say the tray runs without an icon; then the icon
docks (found the way tests/e2e/test_tray_x11.py finds it) and they stop saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import benchmarks.desktop
from app.core.tray_panel import NO_PANEL
from tests.procs import terminate, wait_for
from tests.ui.conftest import write_config

pytestmark = [pytest.mark.tray, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[2]


class LatePanelDesktop(benchmarks.desktop.Desktop):
    """Xvfb + openbox now; the panel (trayer) when ``start_panel`` is called."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp / "desktop.log", displays=range(100, 500))

    def start(self) -> None:
        try:
            self._start_server()
            self._start_helper(("openbox",), lambda: self.xdotool("search", "--class", "openbox"),
                               "openbox")
        except BaseException:
            self.stop()
            raise

    def start_panel(self) -> None:
        self._start_helper(benchmarks.desktop.TRAYER,
                           lambda: self.xdotool("search", "--class", "trayer"), "trayer")


@pytest.fixture()
def desktop(tmp_path):
    missing = [t for t in benchmarks.desktop.TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: xvfb openbox trayer xdotool)")
    d = LatePanelDesktop(tmp_path)
    try:
        d.start()
        yield d
    finally:
        d.stop()


def test_the_icon_appears_once_a_panel_starts(desktop, tmp_path):
    config = write_config(tmp_path / "cfg" / "companion.toml", "http://127.0.0.1:9",
                          "http://127.0.0.1:9/v2/")
    env = dict(desktop.env)
    sockdir = Path(tempfile.mkdtemp(prefix="lcp-", dir="/tmp"))  # short AF_UNIX path
    env.update(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
               LICENSE_COMPANION_CONFIG=str(config),
               LICENSE_COMPANION_HOST_SOCKET=str(sockdir / "host.sock"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "app"]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    def warnings() -> list[str]:
        proc = cli("status", "--json")
        return json.loads(proc.stdout)["warnings"] if proc.stdout.strip() else []

    log = tmp_path / "tray.log"
    with open(log, "w") as out:
        tray = subprocess.Popen([*cmd, "tray"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: NO_PANEL in warnings(), 30, "status to say the tray has no panel",
                 step=0.2)
        assert desktop.docked_icon(tray.pid) == ""
        assert "the icon appears as soon as a panel with one starts" in log.read_text()
        doctor = cli("doctor").stdout
        tray_line = next(line for line in doctor.splitlines() if " tray " in f" {line} "
                         and "runs without an icon" in line)
        assert tray_line.startswith("WARN")
        started = time.monotonic()
        desktop.start_panel()
        wait_for(lambda: desktop.docked_icon(tray.pid), 20, "the tray icon to dock", step=0.05)
        appeared_after = time.monotonic() - started
        print(f"\nicon docked {appeared_after:.2f} s after the panel started")
        assert appeared_after < 2 + 5  # one look every 2 s, plus docking on a loaded machine
        wait_for(lambda: NO_PANEL not in warnings(), 15, "status to stop saying so", step=0.2)
        assert tray.poll() is None
    finally:
        terminate(tray)
    assert NO_PANEL not in warnings()
