"""The consent window shows each backend's plain summary above the exact requests, in the
user's language, built on the worker thread with the preview (the tray's own path)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.support import i18n
from tests.ui.test_tray import enqueue

pytestmark = pytest.mark.timeout(90)


def shown(window) -> str:
    try:
        return window.preview_text("keymanager")
    except KeyError:  # no answer from the worker yet
        return ""


@pytest.fixture()
def german():
    i18n.setup("de")
    yield
    i18n.reset()


def test_the_summary_sits_above_the_requests_in_german(qtbot, german, km, make_factory,
                                                       tray_for):
    factory = make_factory(km_url=km.url)
    enqueue(factory, 2)
    tray = tray_for(factory)
    window = tray.windows.show("consent")
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.category_ids() != [], timeout=10_000)
    qtbot.mouseClick(window.switch("usage"), Qt.MouseButton.LeftButton)  # asks again
    qtbot.waitUntil(lambda: "feature.export" in shown(window), timeout=10_000)
    pane = window.tabs.currentWidget()
    label = pane.findChild(QLabel, "summary")
    qtbot.waitUntil(lambda: label.isVisible() and "2 Ereignisse" in label.text(), timeout=5000)
    text = label.text()
    assert "127.0.0.1" in text and "Test Product" in text, text
    assert "events" not in text and "request" not in text, text  # German, not English
    send_view = pane.send_view
    assert label.mapTo(pane, label.rect().topLeft()).y() < \
        send_view.mapTo(pane, send_view.rect().topLeft()).y()
