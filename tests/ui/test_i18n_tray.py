"""Started with LANG=de_DE.UTF-8 (or ja_JP.UTF-8), the tray, its menu, its tooltip and every
window are in that language, over a real worker and companion."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QLocale

from app.support import i18n
from app.tray.qt_app import setup_language
from tests.ui.artifacts import save_screenshot

pytestmark = pytest.mark.timeout(90)
ENGLISH_MENU = {"License…", "What is sent…", "History…", "Send now", "Pause sending",
                "Start at login", "About", "Quit"}


@pytest.fixture()
def started_in(monkeypatch, qtbot, km, make_factory, tray_for):
    def start(lang: str):
        for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", i18n.OVERRIDE_ENV):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("LANG", lang)
        setup_language()
        tray = tray_for(make_factory(km_url=km.url))
        return tray, tray.windows

    yield start
    QLocale.setDefault(QLocale("en_US"))
    i18n.reset()


@pytest.mark.parametrize(("lang", "quit_word", "title_word"), [
    ("de_DE.UTF-8", "Beenden", "sendet"), ("ja_JP.UTF-8", "終了", "送信"),
])
def test_the_tray_and_every_window_follow_lang(qtbot, started_in, lang, quit_word, title_word):
    tray, windows = started_in(lang)
    assert i18n.current_language() == lang[:2]
    assert QLocale().name().startswith(lang[:2])
    tray.menu.aboutToShow.emit()
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert quit_word in texts
    assert not ENGLISH_MENU & set(texts), texts
    assert not tray.tray.toolTip().startswith("License Companion: All good")
    for name in ("license", "consent", "history", "about"):
        window = windows.show(name)
        qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: windows.open["consent"].category_ids() != [], timeout=10_000)
    assert title_word in windows.open["consent"].windowTitle()
    assert windows.open["history"].windowTitle() != "What Test Product has sent"
    assert not windows.open["license"].windowTitle().startswith("License —")
    assert not windows.open["about"].windowTitle().startswith("About ")
    save_screenshot(windows.open["consent"], f"i18n-tray-consent-{lang[:2]}")
