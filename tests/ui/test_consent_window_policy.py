"""The consent window under an administrator's policy: locked switches, the banner, and the
buttons never granting what the policy forbids (over a real Companion, offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.core.wiring import build_companion
from app.model.consent import AdminPolicy, Choice
from app.storage.config import load_config
from app.storage.texts import load_texts
from tests.ui.artifacts import save_screenshot
from tests.ui.conftest import LICENSE, fixed_identity, write_config
from tests.ui.controllers import ConsentController

pytestmark = pytest.mark.timeout(60)
SOURCE = "/etc/license-companion/policy.toml"


@pytest.fixture()
def show(qtbot, tmp_path, home, km, td):
    made = []

    def build(admin: AdminPolicy, grant: list[str] | None = None):
        config = load_config(write_config(tmp_path / "cfg" / "companion.toml", km.url, td.url))
        if grant:  # decided before the administrator's policy came
            before = build_companion(config, home, license_key=lambda: LICENSE,
                                     identity=fixed_identity, environ={}, admin=AdminPolicy())
            before.grant(grant)
            before.close()
        companion = build_companion(config, home, license_key=lambda: LICENSE,
                                    identity=fixed_identity, environ={}, admin=admin)
        made.append(companion)
        companion.track("feature.export", kind="number", value=3)
        controller = ConsentController(companion, texts=load_texts("en"))
        qtbot.addWidget(controller.window)
        controller.show()
        qtbot.waitExposed(controller.window)
        return controller

    yield build
    for companion in made:
        companion.close()


def test_a_denied_category_is_locked_and_allow_all_skips_it(qtbot, show):
    shown = show(AdminPolicy(source=SOURCE, deny=frozenset({"performance"})))
    window = shown.window
    perf = window.switch("performance")
    assert not perf.isEnabled() and not perf.isChecked()
    assert "Set by your administrator" in window.state_text("performance")
    assert SOURCE in window.state_text("performance")
    assert window.switch("usage").isEnabled()
    assert window.policy_banner.isVisible() and SOURCE in window.policy_banner.text()
    with qtbot.waitSignal(window.decided, timeout=2000) as blocker:
        qtbot.mouseClick(window.allow_all, Qt.MouseButton.LeftButton)
    assert blocker.args == [{"usage": "granted", "performance": "denied"}]
    assert shown.companion.consent.granted() == ["usage"]
    assert not window.switch("performance").isChecked()
    save_screenshot(window, "consent-policy-deny")


def test_telemetry_off_locks_every_switch_and_the_allow_buttons(show):
    shown = show(AdminPolicy(source=SOURCE, enabled=False))
    window = shown.window
    assert all(not window.switch(c).isEnabled() for c in ("usage", "performance"))
    assert not window.allow_all.isEnabled() and not window.allow_selected.isEnabled()
    assert window.deny_all.isEnabled()  # saying no always works
    assert "off by policy" in window.state_text("usage")
    assert window.preview_text("keymanager") == "Nothing."


def test_locked_choices_keep_a_grant_and_still_let_the_user_withdraw_it(qtbot, show):
    shown = show(AdminPolicy(source=SOURCE, locked=True), grant=["usage"])
    window = shown.window
    assert window.switch("usage").isEnabled() and window.switch("usage").isChecked()
    assert not window.switch("performance").isEnabled()
    with qtbot.waitSignal(window.decided, timeout=2000) as blocker:
        qtbot.mouseClick(window.allow_selected, Qt.MouseButton.LeftButton)
    assert blocker.args == [{"performance": "denied"}]  # the kept grant is left alone
    assert shown.companion.consent.granted() == ["usage"]
    window.switch("usage").setChecked(False)
    with qtbot.waitSignal(window.decided, timeout=2000):
        qtbot.mouseClick(window.allow_selected, Qt.MouseButton.LeftButton)
    assert shown.companion.consent.decision("usage").choice is Choice.DENIED
    assert not window.switch("usage").isEnabled()  # and now it cannot be allowed again
