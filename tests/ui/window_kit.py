"""The four windows filled with realistic data, for the accessibility and looks tests."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from app.core.license import LicenseState
from app.core.results import LicenseInfo
from app.core.wiring import build_companion
from app.storage.config import load_config
from app.storage.texts import load_texts
from app.tray.about import AboutWindow
from app.tray.license_window import LicenseWindow
from tests.ui.conftest import LICENSE, fixed_identity, write_config
from tests.ui.controllers import ConsentController, HistoryController


def license_window(now: float | None = None) -> LicenseWindow:
    """A License window showing a valid key checked a few minutes ago."""
    now = time.time() if now is None else now
    window = LicenseWindow("Example Product")
    window.ask("info")
    window.show_info(LicenseInfo(
        available=True, product="Example Product", masked_key="9cc2…1541",
        state=LicenseState.VALID, message="License key is valid", checked_at=now - 300,
        user_identifier="user-id-for-tests-0001"), now=now)
    return window


def build_windows(tmp_path: Path, home: Path, km_url: str, td_url: str) -> dict[str, QWidget]:
    """consent, license, history and about, shown and filled (texts in the current language)."""
    path = write_config(tmp_path / "cfg" / "companion.toml", km_url, td_url)
    companion = build_companion(load_config(path), home, license_key=lambda: LICENSE,
                                identity=fixed_identity, environ={})
    companion.grant(["usage"])
    companion.track("feature.export", kind="number", value=3, payload={"format": "pdf"})
    companion.send(force=True)  # a real round to the receivers, so History has rows
    companion.revoke(["usage"])
    companion.track("feature.export", kind="number", value=3, payload={"format": "pdf"})
    companion.track("perf.startup", kind="number", value=812)
    texts = load_texts()
    consent = ConsentController(companion, texts=texts)
    consent.show()
    consent.window.flush_preview()
    history = HistoryController(companion, texts=texts)
    history.show()
    about = AboutWindow("Example Product", home / "state", path)
    about.show()
    lic = license_window()
    lic.show()
    QApplication.processEvents()
    windows: dict[str, QWidget] = {"consent": consent.window, "license": lic,
                                   "history": history.window, "about": about}
    _KEEP.append((companion, consent, history))
    return windows


_KEEP: list[object] = []


def close_all(windows: dict[str, QWidget]) -> None:
    """Close the windows and the companions behind them."""
    for window in windows.values():
        window.close()
        window.deleteLater()
    while _KEEP:
        companion, *_rest = _KEEP.pop()  # type: ignore[misc]
        companion.close()  # type: ignore[attr-defined]
