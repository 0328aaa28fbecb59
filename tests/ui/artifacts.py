"""Where UI tests save screenshots: ``$LC_ARTIFACTS/screenshots`` or ``test-artifacts/screenshots``."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

REPO = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    root = Path(os.environ.get("LC_ARTIFACTS") or REPO / "test-artifacts")
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_screenshot(widget: QWidget, name: str) -> Path:
    """Grab the whole window as it is drawn now and save it as ``<name>.png``."""
    QApplication.processEvents()
    path = screenshot_dir() / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    assert path.stat().st_size > 1000
    return path
