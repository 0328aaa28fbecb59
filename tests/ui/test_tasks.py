"""``WorkerController.run``: a call on the worker thread, its answer on the caller's thread."""

from __future__ import annotations

import threading
import time

import pytest
import shiboken6
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QWidget

from app.model.errors import ValidationError
from app.tray.qt_tasks import NOT_RUNNING
from app.tray.worker_controller import WorkerController
from tests.ui.conftest import wait_answer, wait_result
from tests.ui.test_worker import SlowClient, enqueue

pytestmark = pytest.mark.timeout(60)


def test_the_call_runs_on_the_worker_thread_and_the_answer_on_the_callers(
        qtbot, km, make_factory, controller_for):
    ctl = controller_for(make_factory(km_url=km.url))
    gui = threading.get_ident()
    seen = {}

    def call(companion):
        seen["call"] = threading.get_ident()
        return companion.config.product.name

    def done(result):
        seen["done"] = threading.get_ident()
        seen["result"] = result

    ctl.run(call, done)
    assert "done" not in seen  # never answered inside run()
    qtbot.waitUntil(lambda: "done" in seen)
    assert seen["call"] != gui and seen["done"] == gui
    assert seen["result"] == "Test Product"


def test_calls_run_in_the_order_given(qtbot, km, make_factory, controller_for):
    ctl = controller_for(make_factory(km_url=km.url))
    got = []
    for i in range(50):
        ctl.run(lambda _c, i=i: i, got.append)
    qtbot.waitUntil(lambda: len(got) == 50)
    assert got == list(range(50))


def test_errors_reach_on_error_and_bugs_are_marked(qtbot, km, make_factory, controller_for):
    ctl = controller_for(make_factory(km_url=km.url))

    def refused(_c):
        raise ValidationError("name", "must not be empty")

    def broken(_c):
        return {}["missing"]

    kind, error = wait_answer(qtbot, lambda done, err: ctl.run(refused, done, err, op="track"))
    assert kind == "error"
    assert (error.op, error.message, error.bug) == ("track", "name: must not be empty", False)
    kind, error = wait_answer(qtbot, lambda done, err: ctl.run(broken, done, err))
    assert kind == "error" and error.bug and error.op == "broken"
    assert "internal error (KeyError)" in error.message
    with qtbot.waitSignal(ctl.failed) as got:  # no on_error: reported, not swallowed
        ctl.run(refused)
    assert got.args[0].message == "name: must not be empty"


class Receiver(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[object] = []

    def take(self, value: object) -> None:
        self.got.append(value)


def test_an_answer_for_a_destroyed_window_is_dropped(qtbot, km, make_factory, controller_for):
    ctl = controller_for(make_factory(km_url=km.url))
    window = Receiver()
    other = Receiver()
    seen = []

    def slow(_c):
        time.sleep(0.3)
        return "late"

    ctl.run(slow, window.take)  # bound method: the window is the receiver
    ctl.run(slow, lambda r: seen.append(r) or other.take(r), context=other)
    shiboken6.delete(window)  # closed and deleted while the calls run
    shiboken6.delete(other)
    marker = []
    ctl.run(lambda _c: "after", marker.append)
    qtbot.waitUntil(lambda: marker == ["after"], timeout=5000)  # both answers were due by now
    assert seen == []  # the lambda's context was gone: not called either


def test_commands_before_start_wait_for_it_and_after_shutdown_are_refused(
        qtbot, km, make_factory):
    ctl = WorkerController(make_factory(km_url=km.url))
    got = []
    try:
        ctl.run(lambda c: c.config.product.name, got.append)
        qtbot.wait(100)
        assert got == []  # held, not answered "not running"
        with qtbot.waitSignal(ctl.ready, timeout=10_000):
            ctl.start()
        qtbot.waitUntil(lambda: got == ["Test Product"])
    finally:
        assert ctl.shutdown(10)
    kind, error = wait_answer(qtbot, lambda done, err: ctl.run(lambda c: 1, done, err))
    assert kind == "error" and error.message == NOT_RUNNING


def test_a_companion_that_cannot_open_answers_not_running(qtbot, tmp_path):
    def factory():
        raise ValidationError("[product] id", "missing")

    ctl = WorkerController(factory)
    try:
        with qtbot.waitSignal(ctl.fatal, timeout=10_000) as fatal:
            ctl.start()
        assert "[product] id" in fatal.args[0]
        kind, error = wait_answer(qtbot, lambda done, err: ctl.run(lambda c: 1, done, err))
        assert kind == "error" and error.message == NOT_RUNNING
    finally:
        ctl.shutdown(10)


def test_a_command_runs_between_two_batches_of_a_drain(qtbot, km, make_factory, controller_for):
    """25 events: KeyManager takes 20 per batch (one request each, 0.1 s apiece here); a status
    asked during the first batch is answered before the second, with 5 still queued."""
    base = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(base, 25)

    def factory():
        companion = base()
        sender = companion.senders["keymanager"]
        sender.client = SlowClient(sender.client, 0.1)
        return companion

    ctl = controller_for(factory)
    with qtbot.waitSignal(ctl.sendStarted, timeout=10_000):
        ctl.grant(None)
    status = wait_result(qtbot, lambda done, err: ctl.run(lambda c: c.status(), done, err))
    assert status.backend("keymanager").queued == 5
    qtbot.waitUntil(lambda: len(km.accepted_events()) == 25, timeout=20_000)


class Asker(QThread):
    """Another thread with its own event loop (a future local server's, say) using the worker."""

    def __init__(self, ctl: WorkerController) -> None:
        super().__init__()
        self.ctl = ctl
        self.answer: tuple[int, object] | None = None
        self.ident = 0

    def run(self) -> None:
        self.ident = threading.get_ident()
        self.ctl.run(lambda c: sum(c.outbox.counts().values()), self._done)
        self.exec()

    def _done(self, result: object) -> None:
        self.answer = (threading.get_ident(), result)
        self.quit()


def test_an_answer_goes_to_the_thread_that_asked(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url)
    enqueue(factory, 3)
    ctl = controller_for(factory)
    asker = Asker(ctl)
    asker.start()
    assert asker.wait(10_000)
    assert asker.answer == (asker.ident, 3)
    assert asker.ident not in (threading.get_ident(), 0)
