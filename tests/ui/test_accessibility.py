"""Keyboard and screen readers: every interactive widget and state label of every window is
named; Escape closes each window; Enter does the default action; icons differ in shape."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QTabWidget,
    QWidget,
)

from app.core.tray_state import Level
from app.support import i18n
from app.tray.icons import Icons
from tests.ui.window_kit import build_windows, close_all

pytestmark = pytest.mark.timeout(90)
INTERACTIVE = (QAbstractButton, QComboBox, QLineEdit, QPlainTextEdit, QAbstractItemView,
               QTabWidget, QProgressBar)
STATE_LABELS = {"state", "status", "key", "identifier", "feedback", "description", "count",
                "about-text", "empty", "meanings", "dnt-banner", "version-banner", "policy-banner", "product",
                "copied"}


@pytest.fixture(params=["en", "de"])
def windows(request, qtbot, tmp_path, home, km, td):
    i18n.setup(request.param)
    made = build_windows(tmp_path, home, km.url, td.url)
    for window in made.values():
        qtbot.addWidget(window)
    yield made
    close_all(made)
    i18n.reset()


def unnamed(window: QWidget) -> list[str]:
    """Interactive widgets and state labels a screen reader could not name."""
    missing = []
    for widget in window.findChildren(QWidget):
        if widget.window() is not window or widget.objectName().startswith("qt_") or \
                type(widget).__name__ in ("QScrollBar", "QTableCornerButton") or \
                not widget.isVisibleTo(window):
            continue  # a combo box's popup list, Qt's own scroll bars and corner buttons
        name = widget.accessibleName().strip()
        if isinstance(widget, INTERACTIVE) and not name:
            if isinstance(widget, QAbstractButton) and widget.parent() is not None and \
                    type(widget.parent()).__name__ in ("QTabBar", "QHeaderView"):
                continue  # Qt's own tab scroll and corner buttons
            missing.append(f"{type(widget).__name__} {widget.objectName()!r} "
                           f"{getattr(widget, 'text', lambda: '')()!r}")
        label_name = widget.objectName().split("-")[0] if widget.objectName().startswith(
            "state-") else widget.objectName()
        if isinstance(widget, QLabel) and label_name in STATE_LABELS and not name:
            missing.append(f"QLabel {widget.objectName()!r} {widget.text()[:40]!r}")
    return missing


def test_every_interactive_widget_and_state_label_is_named(windows):
    for key, window in windows.items():
        assert unnamed(window) == [], key


def test_the_check_fails_on_an_unnamed_button(windows):
    from PySide6.QtWidgets import QPushButton

    extra = QPushButton("", windows["about"])
    extra.show()
    assert unnamed(windows["about"]) != []
    extra.deleteLater()


def test_buttons_have_descriptions_and_mnemonics(windows):
    for key in ("consent", "license"):
        buttons = [b for b in windows[key].findChildren(QAbstractButton)
                   if b.text() and type(b.parent()).__name__ != "QTabBar"]
        assert buttons
        for button in buttons:
            assert button.accessibleDescription(), (key, button.text())
        letters = [b.text().split("&")[1][:1].lower() for b in buttons
                   if "&" in b.text() and b.isVisible()]
        assert len(letters) >= 3 and len(letters) == len(set(letters)), (key, letters)


def test_escape_closes_every_window(qtbot, windows):
    for window in windows.values():
        window.show()
        window.activateWindow()
        qtbot.waitExposed(window)
        window.setFocus()
        qtbot.keyClick(window, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda w=window: not w.isVisible(), timeout=2000)


def test_enter_in_the_consent_window_never_decides(qtbot, windows):
    window = windows["consent"]
    window.switch(window.category_ids()[0]).setFocus()
    decided = []
    window.decided.connect(decided.append)
    qtbot.keyClick(window.switch(window.category_ids()[0]), Qt.Key.Key_Return)
    assert decided == []  # the default button is Close, never a decision
    assert window.close_button.isDefault() and not window.allow_selected.isDefault()


def test_tab_reaches_every_switch_and_button_of_the_consent_window(qtbot, windows):
    window = windows["consent"]
    window.activateWindow()
    first = window.switch(window.category_ids()[0])
    first.setFocus()
    seen = []
    for _ in range(30):
        seen.append(window.focusWidget())
        window.focusNextChild()
    for wanted in [window.switch(c) for c in window.category_ids()] + [
            window.allow_selected, window.allow_all, window.deny_all, window.close_button]:
        assert wanted in seen


def alpha_mask(icon, size: int) -> list[bool]:
    image = icon.pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    return [image.pixelColor(x, y).alpha() > 128 for y in range(size) for x in range(size)]


def test_tray_states_differ_in_shape_not_only_colour(qapp):
    icons = Icons()
    for size in (16, 22, 44):
        masks = {level: alpha_mask(icons.for_level(level), size) for level in Level}
        levels = list(Level)
        for i, a in enumerate(levels):
            for b in levels[i + 1:]:
                differing = sum(x != y for x, y in zip(masks[a], masks[b], strict=True))
                assert differing >= size * size // 40, (size, a, b, differing)


def test_icons_are_sharp_at_twice_the_size(qapp):
    icons = Icons()
    for level in Level:
        sizes = {(s.width(), s.height()) for s in icons.for_level(level).availableSizes()}
        assert (44, 44) in sizes or (48, 48) in sizes, (level, sizes)
        assert (256, 256) in sizes, (level, sizes)
