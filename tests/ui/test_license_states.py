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
