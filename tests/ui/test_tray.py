"""The tray's menu, icon, windows and notifications, offscreen, over a real worker."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton

from app.core.tray_state import Level, Problem
from app.receiver import License
from app.tray.icons import Icons
from app.tray.license_window import LicenseWindow
from app.tray.tray_icon import Notifier, TrayIcon
from tests.ui.artifacts import save_screenshot
from tests.ui.conftest import LICENSE, wait_result

pytestmark = pytest.mark.timeout(60)


def enqueue(factory, count: int, name: str = "feature.export") -> None:
    companion = factory()
    try:
        for i in range(count):
            companion.track(name, kind="number", value=i)
    finally:
        companion.close()


def menu_texts(tray: TrayIcon) -> list[str]:
    tray.menu.aboutToShow.emit()
    return [a.text() for a in tray.menu.actions() if not a.isSeparator()]


def action(tray: TrayIcon, text: str):
    tray.menu.aboutToShow.emit()
    return next(a for a in tray.menu.actions() if a.text().startswith(text))


def test_menu_is_rebuilt_from_state(qtbot, km, make_factory, tray_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    tray = tray_for(factory)
    texts = menu_texts(tray)
    for expected in ("License…", "What is sent… (please decide)", "History…", "Send now",
                     "Pause sending", "Start at login", "About", "Quit"):
        assert expected in texts, texts
    with qtbot.waitSignal(tray.controller.stateChanged, check_params_cb=lambda s: s.paused):
        action(tray, "Pause sending").trigger()
    texts = menu_texts(tray)
    assert "Resume" in texts and "Pause sending" not in texts
    assert tray.tray.toolTip().startswith("License Companion: Sending paused")
    with qtbot.waitSignal(tray.controller.stateChanged, check_params_cb=lambda s: not s.paused):
        action(tray, "Resume").trigger()


def test_start_at_login_writes_and_removes_the_desktop_file(qtbot, km, make_factory, tray_for,
                                                            tmp_path):
    tray = tray_for(make_factory(km_url=km.url))
    entry = tmp_path / "xdg" / "autostart" / "license-companion.desktop"
    login = action(tray, "Start at login")
    assert login.isCheckable() and not login.isChecked()
    login.trigger()
    assert entry.is_file()
    assert "Exec=/usr/bin/license-companion tray" in entry.read_text()
    assert action(tray, "Start at login").isChecked()  # rebuilt from the file, not memory
    action(tray, "Start at login").trigger()
    assert not entry.exists()


def test_send_now_from_the_menu_and_the_icon_follows(qtbot, km, make_factory, tray_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 3)
    tray = tray_for(factory)
    levels = []
    tray.controller.stateChanged.connect(lambda s: levels.append(s.level))
    wait_result(qtbot, lambda done, err: tray.controller.grant(None, done, err))
    with qtbot.waitSignal(tray.controller.sendFinished, timeout=10_000):
        action(tray, "Send now").trigger()
    qtbot.waitUntil(lambda: tray.snapshot.queued == 0)
    assert Level.SENDING in levels and tray.snapshot.level is Level.OK
    assert len(km.accepted_events()) == 3


def test_consent_and_history_windows_through_the_worker(qtbot, km, make_factory, tray_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 2)
    enqueue(factory, 1, "perf.load")
    tray = tray_for(factory)
    windows = tray.windows
    action(tray, "What is sent").trigger()
    consent = windows.open["consent"]
    qtbot.waitUntil(lambda: consent.category_ids() == ["usage", "performance"])
    qtbot.waitUntil(lambda: "feature.export" in _held_text(consent, "keymanager"), timeout=5000)
    consent.switch("usage").setChecked(True)
    qtbot.waitUntil(lambda: "feature.export" in consent.preview_text("keymanager", "will-send"),
                    timeout=5000)
    save_screenshot(consent, "tray-consent-window")
    with qtbot.waitSignal(tray.controller.sendFinished, timeout=10_000):
        consent.allow_selected.click()
        # Declining "performance" deletes its held event: confirmed in the window's question.
        qtbot.waitUntil(lambda: consent.confirm_box is not None)
        assert "1 held event will be deleted" in consent.confirm_box.text()
        consent.confirm_box.findChild(QPushButton, "confirm-delete").click()
    assert len(km.accepted_events()) == 2  # usage only; performance was not granted
    action(tray, "History…").trigger()
    history = windows.open["history"]
    # the two deliveries, and the performance event removed when it was declined
    qtbot.waitUntil(lambda: len(history.visible_entries()) == 3, timeout=5000)
    assert sorted(e.verdict for e in history.visible_entries()) == [
        "delivered", "delivered", "dropped"]
    save_screenshot(history, "tray-history-window")


def _held_text(window, backend: str) -> str:
    """The "will not send" text of ``backend``; "" until the window has built its pane."""
    try:
        return window.preview_text(backend, "will-not-send")
    except KeyError:  # no pane for this backend yet; any other error is a real failure
        return ""


def test_license_window_without_a_license_service(qtbot, km, make_factory, tray_for):
    tray = tray_for(make_factory(km_url=km.url))
    action(tray, "License…").trigger()
    window = tray.windows.open["license"]
    assert isinstance(window, LicenseWindow)
    qtbot.waitUntil(lambda: window.info is not None)
    assert "not available" in window.status_label.text()
    assert not window.save_button.isEnabled()


@pytest.mark.keyring
def confirm_removal(qtbot, window) -> None:
    """Answer the License window's "Remove the license key?" with its remove button."""
    qtbot.waitUntil(lambda: window.confirm_box is not None and window.confirm_box.isVisible())
    assert window.busy_op == ""  # nothing happened before the answer
    window.confirm_box.findChild(QPushButton, "confirm-remove").click()


def test_license_window_enter_check_reveal_remove(qtbot, keyring_env, signing_key, home,
                                                  make_factory, tray_for):
    from app.core.license import LicenseService
    from app.delivery.http import HttpClient
    from app.receiver import KeyManagerReceiver
    from app.storage.keyring.license_store import LicenseStore
    from app.storage.state import StateStore
    from tests.ui.conftest import API_KEY, fixed_identity

    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key,
                            licenses={LICENSE: License(max_activations=1)}) as rx:
        factory = make_factory(km_url=rx.url, pem=rx.public_key_pem)
        config = factory.config

        def license_factory(companion):
            store = LicenseStore(LicenseStore.service_name("ui-test-" + str(id(home)), "x"))
            store.clear()
            return LicenseService(config, store, StateStore(companion.db), fixed_identity,
                                  HttpClient(5))

        tray = tray_for(factory, license_factory=license_factory)
        action(tray, "License…").trigger()
        window = tray.windows.open["license"]
        qtbot.waitUntil(lambda: window.info is not None and not window.busy_op)
        assert window.key_label.text() == "none entered"
        window.key_edit.setText(f"  {LICENSE}\n")
        window.save_button.click()
        assert window.busy_op == "set" and not window.save_button.isEnabled()  # never frozen
        qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
        assert window.info.error == "", window.info.error
        assert window.key_label.text() == "9cc2…1541"
        assert "saved" in window.feedback.text()
        window.findChild(QPushButton, "verify").click()
        qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
        window.findChild(QPushButton, "activate").click()
        qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
        assert window.info.state == "valid", window.info
        assert "Valid" in window.status_label.text()
        window.reveal_button.click()
        qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
        assert window.key_label.text() == LICENSE
        save_screenshot(window, "tray-license-window")
        window.reveal_button.click()
        assert window.key_label.text() == "9cc2…1541"
        window.findChild(QPushButton, "clear").click()
        confirm_removal(qtbot, window)
        qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
        assert window.key_label.text() == "none entered"


def test_notifications_only_for_problems_and_rate_limited():
    now = [1000.0]
    shown = []
    notifier = Notifier(lambda title, message: shown.append(title), clock=lambda: now[0])
    config = Problem("config:keymanager", "KeyManager not configured", "...", notify=False)
    license_problem = Problem("license", "License invalid", "The license key is invalid.")
    keyring = Problem("keyring", "Keyring unavailable", "Start gnome-keyring")
    assert notifier.consider((config,)) is None  # routine/vendor problems: icon only
    assert notifier.consider((config, license_problem)) is license_problem
    now[0] += 5
    assert notifier.consider((license_problem, keyring)) is None  # global gap
    now[0] += 61
    assert notifier.consider((license_problem, keyring)) is keyring  # the new one
    now[0] += 120
    assert notifier.consider((license_problem, keyring)) is None  # both told recently
    now[0] += 120
    assert notifier.consider((keyring,)) is None
    assert notifier.consider((license_problem, keyring)) is license_problem  # solved, relapsed
    assert shown == ["License invalid", "Keyring unavailable", "License invalid"]


def test_about_window(qtbot, km, make_factory, tray_for):
    tray = tray_for(make_factory(km_url=km.url))
    action(tray, "About").trigger()
    about = tray.windows.open["about"]
    assert about.isVisible()
    save_screenshot(about, "tray-about-window")


def test_icons_exist_for_every_level():
    icons = Icons()
    for level in Level:
        icon = icons.for_level(level)
        assert not icon.isNull()
        assert 22 in [s.width() for s in icon.availableSizes()]
    # One picture per state: a state whose icon looks like another's tells the user nothing.
    images = {level: icons.for_level(level).pixmap(22, 22).toImage() for level in Level}
    for a in Level:
        for b in Level:
            if a is not b:
                assert images[a] != images[b], (a, b)


def test_a_missing_icon_folder_gives_null_icons_not_a_crash(tmp_path):
    icons = Icons(tmp_path)
    assert icons.for_level(Level.OK).isNull()


@pytest.mark.keyring
def test_replacing_or_removing_an_activated_key_frees_its_seat_first(
        qtbot, keyring_env, signing_key, home, make_factory, tray_for):
    from app.core.license import LicenseService
    from app.delivery.http import HttpClient
    from app.receiver import KeyManagerReceiver, Respond
    from app.storage.keyring.license_store import LicenseStore
    from tests.ui.conftest import API_KEY, fixed_identity

    other = "5f0b2a77-8c1e-4e55-9d3a-a1b2c3d4e5f6"
    seat = fixed_identity().activation_identifier
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key,
                            licenses={LICENSE: License(max_activations=1),
                                      other: License(max_activations=1)}) as rx:
        factory = make_factory(km_url=rx.url, pem=rx.public_key_pem)

        def license_factory(companion):
            store = LicenseStore(LicenseStore.service_name("ui-seat-" + str(id(home)), "x"))
            store.clear()
            return LicenseService(factory.config, store, companion.state, fixed_identity,
                                  HttpClient(5))

        tray = tray_for(factory, license_factory=license_factory)
        action(tray, "License…").trigger()
        window = tray.windows.open["license"]
        qtbot.waitUntil(lambda: window.info is not None and not window.busy_op)

        def enter(key: str) -> None:
            window.key_edit.setText(key)
            window.save_button.click()
            qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
            assert window.info.error == "", window.info.error

        enter(LICENSE)
        assert rx.licenses[LICENSE].activations == {seat}
        assert window.info.notice == ""  # no previous key: nothing to free
        enter(other)
        assert rx.licenses[LICENSE].activations == set()  # freed before the replacement
        assert rx.licenses[other].activations == {seat}
        assert "9cc2…1541" in window.feedback.text() and "was freed" in window.feedback.text()
        assert "400" in window.info.notice

        rx.script(Respond(500, b"down for maintenance"))  # the deactivation fails
        window.findChild(QPushButton, "clear").click()
        confirm_removal(qtbot, window)
        qtbot.waitUntil(lambda: not window.busy_op, timeout=10_000)
        assert window.info.seat_kept and window.key_label.text() == "none entered"
        assert rx.licenses[other].activations == {seat}
        text = window.feedback.text()
        assert "stays taken" in text and "Free this computer's seat" in text, text
        assert other not in text  # masked, never the clear key


def test_history_export_writes_everything_not_just_the_500_loaded(qtbot, km, make_factory,
                                                                 tray_for, tmp_path):
    import json

    from app.model.wire import Outcome, Verdict

    factory = make_factory(km_url=km.url)
    companion = factory()
    try:
        for i in range(520):
            companion.history_store.record("keymanager", ["usage"], [f"e{i}"],
                                           Outcome(Verdict.DELIVERED, "ok", 200))
    finally:
        companion.close()
    tray = tray_for(factory)
    action(tray, "History…").trigger()
    history = tray.windows.open["history"]
    qtbot.waitUntil(lambda: len(history.visible_entries()) == 500, timeout=5000)  # the view
    target = tmp_path / "all.json"
    history.ask_export_path = lambda: str(target)
    history.export_button.click()
    qtbot.waitUntil(lambda: "Saved 520 entries" in history.status_label.text(), timeout=10_000)
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 520
    assert history.export_button.isEnabled()


def test_the_servers_message_is_shown_as_text_not_markup(qtbot):
    from app.core.results import LicenseInfo

    window = LicenseWindow("Test Product")
    qtbot.addWidget(window)
    window.show_info(LicenseInfo(True, "Test Product", masked_key="9cc2…1541", state="invalid",
                                 message='<a href="http://evil">click</a> & <b>pay</b>',
                                 checked_at=1.0), now=2.0)
    text = window.status_label.text()
    assert "&lt;a href=" in text and "<a href" not in text and "&amp;" in text


def test_single_instance_name_does_not_follow_the_user_variable(tmp_path, monkeypatch):
    from app.tray.instance import server_name

    first = server_name(tmp_path)
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("USERNAME", "someone-else")
    assert server_name(tmp_path) == first
    assert "someone-else" not in first


def test_license_window_is_not_left_busy_when_the_worker_is_gone(qtbot, km, make_factory,
                                                                 tray_for):
    tray = tray_for(make_factory(km_url=km.url))
    action(tray, "License…").trigger()
    window = tray.windows.open["license"]
    qtbot.waitUntil(lambda: window.info is not None and not window.busy_op)
    assert tray.controller.shutdown(10)
    window.ask("info")
    assert window.busy_op == "info"
    qtbot.waitUntil(lambda: not window.busy_op, timeout=5000)
    assert "not running" in window.feedback.text()
    assert not window.progress.isVisible()
