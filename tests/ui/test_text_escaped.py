"""A window shows what a server said with its control characters spelled out, never obeyed."""

from __future__ import annotations

import pytest

from app.core.results import CommandError
from app.core.wiring import build_companion
from app.model.wire import Outcome, Verdict
from app.storage.config import load_config
from app.storage.texts import load_texts
from app.tray.license_window import LicenseWindow
from tests.ui.conftest import LICENSE, fixed_identity, write_config
from tests.ui.controllers import HistoryController

pytestmark = pytest.mark.timeout(60)

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J"
ESCAPED = "\\x1b]0;PWNED\\x07\\x1b[2J"


def test_the_license_windows_feedback_label_shows_the_escaped_text(qtbot):
    window = LicenseWindow("Test Product")
    qtbot.addWidget(window)
    window.show_failure(CommandError("license set", f"HTTP 500: {HOSTILE}"))
    assert ESCAPED in window.feedback.text()
    assert "\x1b" not in window.feedback.text()


def test_the_history_table_and_details_show_the_escaped_message(qtbot, tmp_path, td, home):
    config = write_config(tmp_path / "cfg" / "companion.toml", "http://127.0.0.1:9", td.url)
    companion = build_companion(load_config(config), home, license_key=lambda: LICENSE,
                                identity=fixed_identity, environ={})
    try:
        companion.history_store.record("telemetrydeck", ["usage"], ["e1"],
                                       Outcome(Verdict.RETRY, f"HTTP 500: {HOSTILE}", 500))
        controller = HistoryController(companion, texts=load_texts("en"))
        qtbot.addWidget(controller.window)
        controller.show()
        qtbot.waitExposed(controller.window)
        window = controller.window
        qtbot.waitUntil(lambda: window.table.rowCount() == 1)
        from app.tray.history_window import COLUMNS

        cell = window.table.item(0, COLUMNS.index("message")).text()
        assert ESCAPED in cell and "\x1b" not in cell
        window.table.setCurrentCell(0, 0)
        details = window.details.toPlainText()
        assert ESCAPED in details and "\x1b" not in details
    finally:
        companion.close()


def test_the_tray_tooltip_is_escaped():
    from app.core.tray_state import Level, Snapshot
    from app.tray.tray_icon import TrayIcon

    snap = Snapshot(Level.ATTENTION,
                    f"error {HOSTILE}", (f"last error: {HOSTILE}",))
    tip = TrayIcon.tooltip(snap)
    assert ESCAPED in tip and "\x1b" not in tip
