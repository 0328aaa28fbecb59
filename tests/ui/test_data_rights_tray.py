"""The tray's "Reset my identifier…" and "Forget me…", offscreen, over a real worker and a real
companion: each asks first (Cancel by default changes nothing), then does it and says what it
did and what it cannot do."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from app.core.wiring import build_companion
from app.model.consent import Choice
from app.storage.config import load_config
from tests.configs import keymanager, write_vendor_config
from tests.ui.conftest import API_KEY, LICENSE, fixed_identity, license_checked

pytestmark = pytest.mark.timeout(60)

CONTACT = "privacy@vendor.example"


@pytest.fixture()
def factory(tmp_path, home, km):
    config = load_config(write_vendor_config(
        tmp_path / "cfg" / "companion.toml", pem=km.public_key_pem,
        product={"version": "1.0.0", "privacy_contact": CONTACT},
        keymanager=keymanager(km.url, API_KEY, timeout=5), consent_version=1))

    def make():
        companion = build_companion(config, home, license_key=lambda: LICENSE,
                                    identity=fixed_identity)
        license_checked(companion)
        return companion

    make.config = config
    return make


def action(tray, text: str):
    tray.menu.aboutToShow.emit()
    return next(a for a in tray.menu.actions() if a.text() == text)


def look(factory, what):
    companion = factory()
    try:
        return what(companion)
    finally:
        companion.close()


def queued_events(factory, count: int) -> None:
    companion = factory()
    try:  # undecided: held, so the worker does not send them meanwhile
        for i in range(count):
            companion.track("feature.export", kind="number", value=i)
    finally:
        companion.close()


def test_reset_asks_first_then_sends_a_new_identifier(qtbot, factory, tray_for):
    queued_events(factory, 2)
    tray = tray_for(factory)
    old = fixed_identity().user_identifier

    action(tray, "Reset my identifier…").trigger()
    rights = tray.windows.rights_actions
    qtbot.waitUntil(lambda: rights.confirm_box is not None and rights.confirm_box.isVisible())
    box = rights.confirm_box
    assert "new identifier" in box.text() and "not deleted" in box.text()
    qtbot.keyClick(box, Qt.Key.Key_Return)  # Cancel is the default: nothing happens
    qtbot.waitUntil(lambda: rights.confirm_box is None)
    assert look(factory, lambda c: c.identity().user_identifier) == old
    assert look(factory, lambda c: c.outbox.counts()) == {"keymanager": 2}

    action(tray, "Reset my identifier…").trigger()
    qtbot.waitUntil(lambda: rights.confirm_box is not None)
    with qtbot.waitSignal(rights.finished, timeout=10_000):
        rights.confirm_box.findChild(QPushButton, "confirm-reset-yes").click()
    assert rights.result_box.objectName() == "rights-reset"
    assert "2 waiting events were deleted" in rights.result_box.text()
    new = look(factory, lambda c: c.identity().user_identifier)
    assert new != old
    assert look(factory, lambda c: c.outbox.counts()) == {}
    assert look(factory, lambda c: c.history()[0].verdict) == "identifier_reset"
    action(tray, "History…").trigger()
    history = tray.windows.open["history"]
    qtbot.waitUntil(lambda: any(e.verdict == "identifier_reset"
                                for e in history.visible_entries()), timeout=5000)
    shown = [history.table.item(row, 4).text() for row in range(history.table.rowCount())]
    assert "identifier reset" in shown


def test_forget_names_the_contact_and_empties_everything(qtbot, factory, tray_for):
    queued_events(factory, 3)
    tray = tray_for(factory)

    action(tray, "Forget me…").trigger()
    rights = tray.windows.rights_actions
    qtbot.waitUntil(lambda: rights.confirm_box is not None and rights.confirm_box.isVisible(),
                    timeout=5000)
    box = rights.confirm_box
    assert CONTACT in box.text() and "License window" in box.text()
    box.button(box.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: rights.confirm_box is None)
    assert look(factory, lambda c: c.outbox.counts()) == {"keymanager": 3}

    action(tray, "Forget me…").trigger()
    qtbot.waitUntil(lambda: rights.confirm_box is not None, timeout=5000)
    with qtbot.waitSignal(rights.finished, timeout=10_000):
        rights.confirm_box.findChild(QPushButton, "confirm-forget-yes").click()
    assert rights.result_box.objectName() == "rights-forget"
    assert CONTACT in rights.result_box.text()
    assert look(factory, lambda c: c.outbox.counts()) == {}
    assert look(factory, lambda c: c.history()) == []
    decisions = look(factory, lambda c: {s.category.id: s.decision.choice
                                         for s in c.consent.states()})
    assert set(decisions.values()) == {Choice.DENIED}
    assert look(factory, lambda c: c.identity().user_identifier) != \
        fixed_identity().user_identifier
