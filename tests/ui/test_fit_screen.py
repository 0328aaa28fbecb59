"""Every window fits a 1366x768 laptop at 1x and a 1600x1000 screen at 2x, buttons on screen.

A real X server (Xvfb) of that size, the windows shown as the tray shows them, in a process of
its own (the scale factor is read once per process); the screenshots go to the UI tests'
artifacts folder (``tests/ui/artifacts.py``) as ``fit-<window>-<screen>.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.ui.artifacts import REPO, screenshot_dir

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")]

SHOW = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication, QPushButton
app = QApplication([])
from app.receiver import KeyManagerReceiver, TelemetryDeckReceiver, generate_private_key
from tests.ui.artifacts import save_screenshot
from tests.ui.conftest import API_KEY
from tests.ui.window_kit import build_windows
tag, tmp = sys.argv[1], Path(sys.argv[2])
(tmp / "home").mkdir(mode=0o700)
with KeyManagerReceiver(api_key=API_KEY, private_key=generate_private_key()) as km, \\
        TelemetryDeckReceiver() as td:
    windows = build_windows(tmp, tmp / "home", km.url, td.url)
    area = app.primaryScreen().availableGeometry()
    for name, window in windows.items():
        app.processEvents()
        frame = window.frameGeometry()
        assert frame.width() <= area.width() and frame.height() <= area.height(), (
            name, frame, area)
        for button in window.findChildren(QPushButton):
            if not button.isVisibleTo(window):
                continue
            corner = button.mapTo(window, button.rect().bottomRight())
            assert window.rect().contains(corner), (name, button.text(), corner, window.rect())
        if name in ("consent", "license"):
            save_screenshot(window, f"fit-{name}-{tag}")
    print("fits", area.width(), area.height())
"""


@pytest.mark.parametrize(("screen", "scale", "tag"), [
    ("1366x768x24", "1", "1366x768"), ("1600x1000x24", "2", "2x")])
def test_every_window_fits_the_screen(screen, scale, tag):
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", screen,
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            display = pipe.readline().strip()
        assert display, "Xvfb did not start"
        env = {**os.environ, "DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb",
               "QT_SCALE_FACTOR": scale, "PYTHONPATH": str(REPO)}
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([sys.executable, "-c", SHOW, tag, tmp], env=env, cwd=REPO,
                                  text=True, capture_output=True, timeout=150)
        assert done.returncode == 0 and "fits" in done.stdout, done.stderr[-3000:]
        for name in ("consent", "license"):
            assert (screenshot_dir() / f"fit-{name}-{tag}.png").stat().st_size > 1000
    finally:
        xvfb.terminate()
        xvfb.wait(10)
