"""The tray's state rules, from typed status, without Qt."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from app.core.license import LicenseStatus
from app.core.status import (
    BackendState,
    BackendStatus,
    CategoryStatus,
    CompanionStatus,
    LicenseSummary,
    backend_problems,
    collect_problems,
    disabled_backend,
    warning_key,
)
from app.core.tray_state import Level, Snapshot, snapshot

REPO = Path(__file__).resolve().parents[2]


def status_with(*states: tuple[str, BackendState], queued: int = 0, sending: str = "allowed",
                license: LicenseSummary | None = None, notices: tuple[str, ...] = (),
                consent_needed: bool = False) -> CompanionStatus:
    enabled = [
        BackendStatus(name, name.capitalize(), True, url="http://x", queued=queued, state=state,
                      problems=backend_problems(name, name.capitalize(), "", state))
        for name, state in states
    ]
    backends = (*enabled, disabled_backend("telemetrydeck", "TelemetryDeck"))
    problems, warnings = collect_problems(notices, backends, license)
    return CompanionStatus("P", "/c.toml", "/h", 1, False, (CategoryStatus("usage", "granted",
                           "granted"),), sending, backends, license, consent_needed, problems,
                           warnings)


def test_all_good_with_the_queue_and_last_delivery():
    delivered = time.mktime((2026, 1, 2, 13, 45, 0, 0, 0, -1))
    snap = snapshot(status_with(("keymanager", BackendState(last_success=delivered)), queued=3))
    assert snap == Snapshot(Level.OK, "All good, 3 queued",
                            ("3 events queued", "last delivered 13:45"), (), 3,
                            last_success=delivered)


def test_problems_win_over_sending_and_paused_and_are_counted():
    state = BackendState(blocked="HTTP 401", signature_warning="unsigned")
    snap = snapshot(status_with(("keymanager", state)), sending=True, paused=True)
    assert snap.level is Level.ATTENTION
    assert snap.summary == "Keymanager refused our credentials (+2 more)"  # and the pause
    assert [p.key for p in snap.problems] == ["blocked:keymanager", "signature:keymanager"]
    assert snap.details[1:] == ("Keymanager refused our credentials: HTTP 401",
                                "Keymanager: signature check failed: unsigned",
                                "Sending paused: the tray does not send until you resume")
    assert snap.sending and snap.paused


def test_sending_then_paused_then_why_not():
    quiet = status_with(("keymanager", BackendState()), queued=2)
    assert snapshot(quiet, sending=True).summary == "Sending (2 queued)"
    assert snapshot(quiet, sending=True).level is Level.SENDING
    assert snapshot(quiet, paused=True).level is Level.PAUSED
    dnt = replace(quiet, sending="DO_NOT_TRACK is set: nothing is sent")
    assert snapshot(dnt).summary == "Not sending: DO_NOT_TRACK is set on this computer"
    assert snapshot(dnt).sending_allowed.startswith("DO_NOT_TRACK")


def test_keyring_problem_goes_before_the_license_and_after_the_rest():
    license = LicenseSummary(LicenseStatus("invalid", message="The key is invalid."), "invalid")
    status = status_with(("keymanager", BackendState(blocked="HTTP 401")), license=license,
                         notices=("the state database was moved aside",))
    snap = snapshot(status, keyring="the keyring is locked")
    assert [p.key for p in snap.problems] == [
        "blocked:keymanager", warning_key("the state database was moved aside"), "keyring",
        "license"]
    assert snap.problems[2].title == "Keyring unavailable"
    assert snapshot(status_with(("keymanager", BackendState())), keyring="gone").summary == (
        "Keyring unavailable")


def test_consent_needed_is_passed_through():
    assert snapshot(status_with(("keymanager", BackendState()), consent_needed=True)).consent_needed


def test_warning_keys_ignore_changing_counts():
    assert warning_key("refused events (3 so far)") == warning_key("refused events (14 so far)")
    assert warning_key("refused events") != warning_key("database moved aside")


def test_the_state_rules_import_no_qt():
    code = ("import sys, app.core.tray_state, app.core.status; "
            "print(sorted(m for m in sys.modules if m.startswith('PySide6')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
