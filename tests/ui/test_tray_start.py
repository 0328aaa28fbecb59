"""The tray's start order: the icon first, the rest on later loop turns; what an idle tray
leaves unloaded (window modules, Qt's network module) and the single-instance socket that
replaced ``QLocalServer`` on POSIX."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from app.tray.icons import Icons
from app.tray.instance import SingleInstance
from app.tray.session import TraySession
from app.tray.tray_icon import TrayIcon
from tests.ui.test_worker import enqueue

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]


def menu_texts(tray: TrayIcon) -> list[str]:
    tray.menu.aboutToShow.emit()
    return [a.text() for a in tray.menu.actions() if not a.isSeparator()]


def test_the_icon_exists_before_the_worker_and_gets_its_menu_once_built(
        qtbot, qapp, home, make_factory, monkeypatch):
    sockets = Path(tempfile.mkdtemp(prefix="lct-", dir="/tmp"))  # a short AF_UNIX path
    monkeypatch.setenv("LICENSE_COMPANION_HOST_SOCKET", str(sockets / "host.sock"))
    factory = make_factory()
    instance = SingleInstance(home)
    assert instance.acquire()
    icons = Icons()
    tray = TrayIcon(None, None, icons)
    session = TraySession(qapp, instance, tray, icons, home, factory, None, "Test Product",
                          factory.config.source, show=None, interval=3600, windows_only=False,
                          out=lambda _text: None, started=0.0)
    try:
        session.start_soon()
        # Nothing is built before the loop runs: the icon's menu offers Quit alone.
        assert session.controller is None and session.windows is None
        texts = menu_texts(tray)
        assert texts[-1] == "Quit" and len(texts) == 2 and "starting" in texts[0]
        tray.menu.actions()[0].trigger()  # the header does nothing
        qtbot.waitUntil(lambda: session.door is not None, timeout=10_000)
        assert tray.controller is session.controller and tray.windows is session.windows
        qtbot.waitUntil(lambda: tray.snapshot is not None, timeout=10_000)
        texts = menu_texts(tray)
        assert "License…" in texts and "Send now" in texts and texts[-1] == "Quit"
    finally:
        assert session.close(10) == 0
        instance.release()


def test_an_idle_tray_imports_no_window_and_no_network_module(tmp_path):
    code = ("import sys, app.tray.app, app.tray.first, app.tray.session, app.tray.tray_icon, "
            "app.tray.windows, app.tray.worker\n"
            "print(' '.join(m for m in sys.modules if m in {"
            "'app.tray.license_window', 'app.tray.about', 'app.tray.consent_window', "
            "'app.tray.history_window', 'app.tray.netinfo', 'PySide6.QtNetwork', "
            "'app.doctor.companion'}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO),
                               "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == []


def test_the_network_watcher_is_built_when_a_round_first_needs_it(qtbot, td, make_factory):
    from app.tray.netinfo import NetworkWatcher
    from app.tray.worker_controller import WorkerController

    factory = make_factory(td_url=td.url)
    enqueue(factory, 2)
    built: list[NetworkWatcher] = []

    def make_watcher() -> NetworkWatcher:
        built.append(NetworkWatcher())
        return built[-1]

    ctl = WorkerController(factory, None, 3600)
    ctl.watch_network_when_needed(make_watcher)
    try:
        with qtbot.waitSignal(ctl.ready, timeout=10_000):
            ctl.start()
        ctl.wake()  # nothing is allowed yet (no consent): no round, no watcher
        qtbot.wait(200)
        assert built == []
        with qtbot.waitSignal(ctl.sendFinished, timeout=20_000):
            ctl.grant(None)  # a round: it waits for the first reading, then sends
        assert len(built) == 1
        qtbot.waitUntil(lambda: len(td.accepted_events()) == 2, timeout=10_000)
        enqueue(factory, 1)
        with qtbot.waitSignal(ctl.sendFinished, timeout=20_000):
            ctl.wake()
        assert len(built) == 1  # built once
        assert ctl.current_network() == built[0].state()
    finally:
        ctl.shutdown(10)


def test_a_failing_network_backend_lets_the_round_go_as_without_one(qtbot, td, make_factory):
    from app.tray.worker_controller import WorkerController

    factory = make_factory(td_url=td.url)
    enqueue(factory, 1)

    def broken():
        raise RuntimeError("no backend here")

    ctl = WorkerController(factory, None, 3600)
    ctl.watch_network_when_needed(broken)
    try:
        with qtbot.waitSignal(ctl.ready, timeout=10_000):
            ctl.start()
        with qtbot.waitSignal(ctl.sendFinished, timeout=20_000):
            ctl.grant(None)
        qtbot.waitUntil(lambda: len(td.accepted_events()) == 1, timeout=10_000)
    finally:
        ctl.shutdown(10)


@pytest.mark.skipif(os.name != "posix", reason="the Unix socket is the POSIX server")
def test_a_second_start_reaches_the_first_through_a_private_socket(qtbot, home):
    from app.tray.local_socket import socket_path

    first, second = SingleInstance(home), SingleInstance(home)
    assert first.acquire()
    assert stat.S_IMODE((home / "tray.lock").stat().st_mode) == 0o600
    try:
        first.listen()
        path = socket_path(first.name)
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not second.acquire()

        # Not one of ours: no newline, then more than a message may be. Dropped, nothing shown.
        junk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        junk.connect(str(path))
        junk.sendall(b"x" * 5000)
        got: list[str] = []
        first.messageReceived.connect(got.append)
        answers: list[bool] = []
        client = threading.Thread(target=lambda: answers.append(second.send("show consent")))
        client.start()
        qtbot.waitUntil(lambda: got == ["show consent"], timeout=10_000)
        client.join(10)
        assert answers == [True]
        assert junk.recv(16) == b""  # closed without an answer
        junk.close()
    finally:
        first.release()
    assert not socket_path(first.name).exists()
    assert not second.send("show", timeout_ms=500)  # nobody listens any more


@pytest.mark.skipif(os.name != "posix", reason="the Unix socket is the POSIX server")
def test_a_stale_socket_of_a_dead_tray_is_replaced(qtbot, home):
    from app.tray.local_socket import socket_path

    instance = SingleInstance(home)
    path = socket_path(instance.name)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a crashed tray's leftover: bound, nobody accepts
    stale.close()
    assert instance.acquire()
    try:
        instance.listen()
        assert instance.unix_server is not None
        other = SingleInstance(home)
        answers: list[bool] = []
        client = threading.Thread(target=lambda: answers.append(other.send("show")))
        got: list[str] = []
        instance.messageReceived.connect(got.append)
        client.start()
        qtbot.waitUntil(lambda: got == ["show"], timeout=10_000)
        client.join(10)
        assert answers == [True]
    finally:
        instance.release()
