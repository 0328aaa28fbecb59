"""The license window speaks the one license vocabulary, and a bug (not its text) stops key entry."""

from __future__ import annotations

from app.core.license import LicenseState
from app.tray.license_window import STATE_WORDS, LicenseWindow, available_for_entry
from app.tray.worker import LicenseInfo


def test_every_license_state_has_its_words():
    assert set(STATE_WORDS) == set(LicenseState)


def test_key_entry_stops_on_a_bug_flag_not_on_a_message():
    assert available_for_entry(LicenseInfo(True))
    # An environment failure whose words happen to start like a bug report: still enterable.
    assert available_for_entry(LicenseInfo(True, error="internal error words from a server"))
    assert not available_for_entry(LicenseInfo(True, error="anything", internal_error=True))
    assert not available_for_entry(LicenseInfo(False))


def test_no_key_is_shown_as_such(qtbot):
    window = LicenseWindow("Test Product")
    qtbot.addWidget(window)
    window.show_info(LicenseInfo(True, state=LicenseState.NO_KEY, message="ignored",
                                 checked_at=1.0), now=100.0)
    text = window.status_label.text()
    assert "No key entered" in text and "ignored" not in text and "checked" not in text
    window.show_info(LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.INVALID,
                                 message="The key is invalid.", checked_at=40.0), now=100.0)
    assert "Invalid" in window.status_label.text()
    assert "The key is invalid." in window.status_label.text()


def answered(qtbot, window, op: str, info: LicenseInfo) -> str:
    """Run ``op`` as the worker would answer it; the feedback shown and its colour."""
    window.show_info(LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.VALID))
    window.ask(op, "key" if op == "set" else None)
    window.show_info(info)
    return window.feedback.text()


def test_the_feedback_says_what_the_server_said_green_only_for_success(qtbot):
    from app.tray import looks

    window = LicenseWindow("Test Product")
    qtbot.addWidget(window)
    good, bad = looks.colour("good", window), looks.colour("bad", window)
    refused = LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.INVALID, code=210,
                          message="Invalid license key")
    text = answered(qtbot, window, "set", refused)
    assert text == "Key saved, but the license server refused it: Invalid license key"
    assert bad in window.feedback.styleSheet() and good not in window.feedback.styleSheet()
    limit = LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.INVALID, code=302,
                        message="Activation limit reached")
    assert answered(qtbot, window, "activate", limit) == \
        "The license server refused the key: Activation limit reached"
    assert bad in window.feedback.styleSheet()
    offline = LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.UNKNOWN,
                          message="cannot connect")
    assert answered(qtbot, window, "verify", offline) == \
        "The license server could not be asked: cannot connect"
    assert looks.colour("warn", window) in window.feedback.styleSheet()
    valid = LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.VALID, code=300)
    assert answered(qtbot, window, "set", valid) == "Key saved and this computer activated."
    assert good in window.feedback.styleSheet()
    freed = LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.INVALID, code=400)
    assert answered(qtbot, window, "deactivate", freed) == "This computer's seat was freed."


def test_remove_asks_first_and_enter_keeps_the_key(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    window = LicenseWindow("Test Product")
    qtbot.addWidget(window)
    window.show()
    window.show_info(LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.VALID))
    asked = []
    window.requested.connect(lambda op, arg: asked.append(op))
    window.clear_button.click()
    box = window.confirm_box
    assert box is not None and "seat is freed first" in box.text()
    qtbot.keyClick(box, Qt.Key.Key_Return)  # the default button: Cancel
    qtbot.waitUntil(lambda: window.confirm_box is None)
    assert asked == []
    window.clear_button.click()
    window.confirm_box.findChild(QPushButton, "confirm-remove").click()
    qtbot.waitUntil(lambda: asked == ["clear"])


def test_reveal_turns_into_hide_and_the_entry_can_be_shown(qtbot):
    from PySide6.QtWidgets import QLineEdit

    window = LicenseWindow("Test Product")
    qtbot.addWidget(window)
    window.show_info(LicenseInfo(True, masked_key="9cc2…1541", state=LicenseState.VALID))
    window.reveal_button.click()
    assert window.reveal_button.text() == "&Hide"
    window.show_info(LicenseInfo(True, masked_key="9cc2…1541", revealed_key="KEY-IN-CLEAR",
                                 state=LicenseState.VALID))
    assert window.key_label.text() == "KEY-IN-CLEAR"
    window.reveal_button.click()
    assert window.reveal_button.text() == "Re&veal" and window.key_label.text() == "9cc2…1541"
    assert window.key_edit.echoMode() is QLineEdit.EchoMode.Password
    window.show_entry.click()
    assert window.key_edit.echoMode() is QLineEdit.EchoMode.Normal
