"""The consent window over a real Companion (offscreen): preview, decisions, banner, keyboard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from app.core.wiring import build_companion
from app.model.consent import Choice
from app.storage.config import load_config
from app.storage.texts import load_texts
from app.tray.consent_window import ConsentWindow
from tests.ui.artifacts import save_screenshot
from tests.ui.conftest import API_KEY, LICENSE, fixed_identity, write_config
from tests.ui.controllers import ConsentController

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def make_companion(tmp_path, home, km, td):
    made = []

    def build(environ=None, version: int = 1):
        path = write_config(tmp_path / "cfg" / "companion.toml", km.url, td.url)
        if version != 1:
            path.write_text(path.read_text().replace("version = 1", f"version = {version}"))
        companion = build_companion(load_config(path), home, license_key=lambda: LICENSE,
                                   identity=fixed_identity, environ=environ or {})
        made.append(companion)
        return companion

    yield build
    for companion in made:
        companion.close()


@pytest.fixture()
def companion(make_companion):
    companion = make_companion()
    companion.track("feature.export", kind="number", value=3, payload={"format": "pdf"})
    companion.track("perf.startup", kind="number", value=812)
    return companion


@pytest.fixture()
def shown(qtbot, companion):
    controller = ConsentController(companion, texts=load_texts("en"))
    qtbot.addWidget(controller.window)
    controller.show()
    qtbot.waitExposed(controller.window)
    return controller


def toggle(qtbot, window: ConsentWindow, category: str) -> None:
    with qtbot.waitSignal(window.previewWanted, timeout=2000):
        qtbot.mouseClick(window.switch(category), Qt.MouseButton.LeftButton)


def test_undecided_starts_switched_off_and_nothing_will_be_sent(shown):
    window = shown.window
    assert window.selected() == []
    for backend in ("keymanager", "telemetrydeck"):
        assert window.preview_text(backend) == "Nothing."
        held = window.preview_text(backend, "will-not-send")
        assert "feature.export" in held and "perf.startup" in held
    save_screenshot(window, "consent-undecided")


def test_switches_update_the_preview(qtbot, shown):
    window = shown.window
    toggle(qtbot, window, "usage")
    assert window.selected() == ["usage"]
    for backend in ("keymanager", "telemetrydeck"):
        will = window.preview_text(backend)
        held = window.preview_text(backend, "will-not-send")
        assert "feature.export" in will and "perf.startup" not in will
        assert "perf.startup" in held and "feature.export" not in held
    assert "POST " in window.preview_text("keymanager")
    assert "data_group = feature.export" in window.preview_text("keymanager")
    meanings = window.findChild(type(window.dnt_banner), "meanings").text()
    assert "user_identifier" in meanings
    save_screenshot(window, "consent-usage-selected")

    toggle(qtbot, window, "usage")
    assert window.preview_text("keymanager") == "Nothing."
    # Nothing was decided by toggling.
    assert not shown.companion.consent.ever_decided()


def test_secrets_are_masked_until_revealed(qtbot, shown):
    window = shown.window
    toggle(qtbot, window, "usage")
    text = window.preview_text("keymanager")
    assert LICENSE not in text and API_KEY not in text
    assert "9cc2…1541" in text
    with qtbot.waitSignal(window.previewWanted, timeout=2000):
        window.reveal.click()
    revealed = window.preview_text("keymanager")
    assert f"license_key = {LICENSE}" in revealed and f"api_key = {API_KEY}" in revealed
    save_screenshot(window, "consent-revealed")


def test_allow_selected_grants_the_switched_on_and_denies_the_rest(qtbot, shown):
    window, companion = shown.window, shown.companion
    toggle(qtbot, window, "usage")
    with qtbot.waitSignal(window.decided, timeout=2000) as blocker:
        qtbot.mouseClick(window.allow_selected, Qt.MouseButton.LeftButton)
        # Declining "performance" deletes its held event: the window asks first.
        qtbot.waitUntil(lambda: window.confirm_box is not None)
        assert "1 held event will be deleted" in window.confirm_box.text()
        window.confirm_box.findChild(QPushButton, "confirm-delete").click()
    assert blocker.args == [{"usage": "granted", "performance": "denied"}]
    assert companion.consent.decision("usage").choice is Choice.GRANTED
    assert companion.consent.decision("performance").choice is Choice.DENIED
    assert companion.outbox.counts_by_category() == {"usage": 1}  # perf deleted at once
    assert "allowed" in window.state_text("usage")
    assert "declined" in window.state_text("performance")
    save_screenshot(window, "consent-decided")


def test_allow_all_grants_everything(qtbot, shown):
    with qtbot.waitSignal(shown.window.decided, timeout=2000) as blocker:
        qtbot.mouseClick(shown.window.allow_all, Qt.MouseButton.LeftButton)
    assert blocker.args == [{"usage": "granted", "performance": "granted"}]
    assert shown.companion.consent.granted() == ["usage", "performance"]
    assert shown.window.selected() == ["usage", "performance"]
    assert "feature.export" in shown.window.preview_text("telemetrydeck")
    assert "perf.startup" in shown.window.preview_text("telemetrydeck")


def test_deny_all_denies_everything_and_deletes_the_queue(qtbot, shown):
    shown.companion.grant()
    shown.refresh()
    with qtbot.waitSignal(shown.window.decided, timeout=2000) as blocker:
        qtbot.mouseClick(shown.window.deny_all, Qt.MouseButton.LeftButton)
    assert blocker.args == [{"usage": "denied", "performance": "denied"}]
    states = {s.category.id: s.decision.choice for s in shown.companion.consent.states()}
    assert states == {"usage": Choice.DENIED, "performance": Choice.DENIED}
    assert shown.companion.outbox.counts() == {}
    assert shown.window.selected() == []


def test_closing_without_choosing_decides_nothing(qtbot, shown):
    toggle(qtbot, shown.window, "usage")
    decisions = []
    shown.window.decided.connect(decisions.append)
    shown.window.close()
    assert decisions == []
    assert not shown.companion.consent.ever_decided()
    assert shown.companion.outbox.counts_by_category() == {"usage": 1, "performance": 1}


def test_do_not_track_banner_explains_why_nothing_is_sent(qtbot, make_companion):
    companion = make_companion(environ={"DO_NOT_TRACK": "1"})
    companion.grant()
    plain = make_companion()  # what the app had queued before DO_NOT_TRACK was set
    plain.track("feature.export", kind="number", value=3)
    controller = ConsentController(companion, texts=load_texts("en"))
    qtbot.addWidget(controller.window)
    controller.show()
    qtbot.waitExposed(controller.window)
    window = controller.window
    assert window.dnt_banner.isVisible()
    assert "DO_NOT_TRACK" in window.dnt_banner.text()
    assert window.selected() == ["usage", "performance"]  # stored choices still shown
    assert window.preview_text("keymanager") == "Nothing."
    assert "feature.export" in window.preview_text("keymanager", "will-not-send")
    assert "DO_NOT_TRACK" in window.findChild(type(window.dnt_banner), "status").text()
    save_screenshot(window, "consent-do-not-track")


def test_no_banner_without_do_not_track(shown):
    assert not shown.window.dnt_banner.isVisible()
    assert not shown.window.version_banner.isVisible()


def test_version_bump_banner_asks_again(qtbot, make_companion):
    make_companion().grant()
    bumped = make_companion(version=2)
    bumped.track("feature.export", kind="number", value=3)
    controller = ConsentController(bumped, texts=load_texts("en"))
    qtbot.addWidget(controller.window)
    controller.show()
    qtbot.waitExposed(controller.window)
    assert controller.window.version_banner.isVisible()
    assert "version 2" in controller.window.version_banner.text()
    assert controller.window.selected() == []  # old grants do not carry over
    save_screenshot(controller.window, "consent-version-bump")


def test_keyboard_reaches_every_switch_and_button(qtbot, shown):
    window = shown.window
    window.activateWindow()
    first = window.switch("usage")
    first.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is first, timeout=2000)
    seen = []
    for _ in range(30):
        seen.append(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    wanted = [window.switch("usage"), window.switch("performance"), window.reveal,
              window.deny_all, window.close_button, window.allow_selected, window.allow_all]
    for widget in wanted:
        assert widget in seen, widget.objectName()
    # In visual order: the switches come first, then reveal; the buttons after the preview.
    order = [seen.index(w) for w in wanted]
    assert order == sorted(order)

    # Space on a focused switch toggles it and asks for a new preview.
    first.setFocus(Qt.FocusReason.TabFocusReason)
    with qtbot.waitSignal(window.previewWanted, timeout=2000):
        qtbot.keyClick(first, Qt.Key.Key_Space)
    assert window.selected() == ["usage"]


def test_every_control_has_a_distinct_mnemonic(shown):
    window = shown.window
    controls = window.findChildren(QPushButton)
    keys = []
    for control in controls:
        text = control.text().replace("&&", "")
        assert "&" in text, f"{text!r} has no keyboard shortcut"
        keys.append(text[text.index("&") + 1].lower())
    assert len(keys) == len(set(keys)), keys


def test_switch_labels_carry_no_digit_or_mnemonic_prefix(shown):
    window = shown.window
    labels = [window.switch(c).text() for c in window.category_ids()]
    assert labels
    for label in labels:
        assert not label[:1].isdigit() and not label.startswith("&"), label
        assert label.startswith("Allow "), label


def test_alt_mnemonic_toggles_a_switch(qtbot, shown):
    window = shown.window
    window.activateWindow()
    window.reveal.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=2000)
    with qtbot.waitSignal(window.previewWanted, timeout=2000):
        qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert window.selected() == ["performance"]


def test_enter_with_nothing_ticked_decides_nothing_and_keeps_the_events(qtbot, shown):
    window, companion = shown.window, shown.companion
    before = companion.outbox.counts_by_category()
    assert before  # events are held, waiting for the decision
    decided = []
    window.decided.connect(decided.append)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert decided == []  # Close is the default: no decision
    assert companion.outbox.counts_by_category() == before
    assert companion.consent.decision("usage").choice is Choice.UNDECIDED


def test_declining_held_events_can_be_cancelled(qtbot, shown):
    window, companion = shown.window, shown.companion
    before = companion.outbox.counts_by_category()
    decided = []
    window.decided.connect(decided.append)
    qtbot.mouseClick(window.allow_selected, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.confirm_box is not None)
    assert "2 held events will be deleted" in window.confirm_box.text()
    qtbot.keyClick(window.confirm_box, Qt.Key.Key_Return)  # Cancel is its default
    qtbot.waitUntil(lambda: window.confirm_box is None)
    assert decided == [] and companion.outbox.counts_by_category() == before
