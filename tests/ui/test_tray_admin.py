"""The tray's parts for deployment and support: "Send on metered connections", the tooltip
naming the rule that stops sending, and the About window's doctor report with "Copy report"."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from app.core.settings import send_on_metered
from app.core.tray_state import Level, Snapshot
from app.core.wiring import build_companion
from app.model.consent import AdminPolicy
from app.storage.config import load_config
from app.tray.tray_icon import TrayIcon
from tests.ui.conftest import LICENSE, fixed_identity, wait_result, write_config
from tests.ui.test_tray import action

pytestmark = pytest.mark.timeout(60)


def test_send_on_metered_is_off_by_default_and_stored_from_the_menu(qtbot, km, make_factory,
                                                                   tray_for):
    tray = tray_for(make_factory(km_url=km.url))
    qtbot.waitUntil(lambda: tray.send_on_metered is not None)
    item = action(tray, "Send on metered connections")
    assert item.isCheckable() and not item.isChecked()
    item.trigger()
    qtbot.waitUntil(lambda: tray.send_on_metered is True)
    stored = wait_result(qtbot, lambda done, err: tray.controller.run(
        lambda c: send_on_metered(c.state), done, err))
    assert stored is True
    assert action(tray, "Send on metered connections").isChecked()


def test_tooltip_names_the_rule_even_when_a_problem_takes_the_summary():
    problem_first = Snapshot(Level.ATTENTION, "License invalid", ("0 event(s) queued",),
                             sending_allowed="telemetry is off by policy (set by your "
                             "administrator in /etc/license-companion/policy.toml)")
    text = TrayIcon.tooltip(problem_first)
    assert "Not sending: telemetry is off by policy" in text and "policy.toml" in text
    dnt = Snapshot(Level.OK, "Not sending: DO_NOT_TRACK is set: nothing is sent")
    assert TrayIcon.tooltip(dnt).count("DO_NOT_TRACK") == 1  # not said twice


def test_tooltip_under_a_policy_from_the_worker(qtbot, tmp_path, home, km, controller_for):
    config = load_config(write_config(tmp_path / "cfg" / "companion.toml", km.url))

    def factory():
        return build_companion(config, home, license_key=lambda: LICENSE,
                               identity=fixed_identity, environ={},
                               admin=AdminPolicy(source="/etc/x/policy.toml", enabled=False))

    ctl = controller_for(factory)
    assert "off by policy" in ctl.snapshot.summary and "/etc/x/policy.toml" in ctl.snapshot.summary
    assert not ctl.snapshot.consent_needed  # nothing to ask while the policy decides


def test_about_shows_the_doctor_report_and_copies_it(qtbot, km, make_factory,
                                                    tray_for):
    tray = tray_for(make_factory(km_url=km.url))
    action(tray, "About").trigger()
    about = tray.windows.open["about"]
    qtbot.waitUntil(lambda: about.copy_button.isEnabled(), timeout=30_000)
    report = about.report.toPlainText()
    assert "doctor" in report.splitlines()[0]
    assert "keymanager HTTP" in report and "system tray" in report
    assert "not checked here" not in report  # the tray answered whether there is a tray
    assert LICENSE not in report
    about.copy_button.click()
    assert QApplication.clipboard().text() == report
    assert about.copied.text()
