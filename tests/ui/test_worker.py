"""The worker thread against the real test receivers."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.core.results import SendSummary
from app.core.tray_state import Level, Snapshot
from tests.ui.conftest import wait_answer, wait_result

pytestmark = pytest.mark.timeout(60)


def enqueue(factory, count: int, name: str = "feature.export") -> None:
    """Put events in the outbox from this (test) thread, as the CLI of the vendor app would."""
    companion = factory()
    try:
        for i in range(count):
            companion.track(name, kind="number", value=i)
    finally:
        companion.close()


def test_grant_then_timer_sends_everything(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 5)
    ctl = controller_for(factory, interval=0.2)
    assert ctl.snapshot.consent_needed
    assert ctl.snapshot.queued == 5
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000) as sent:
        ctl.grant(None)
    summary = sent.args[0]
    assert isinstance(summary, SendSummary)
    assert summary.delivered == 5 and summary.remaining == 0
    assert len(km.accepted_events()) == 5
    qtbot.waitUntil(lambda: ctl.snapshot.queued == 0 and not ctl.snapshot.consent_needed)
    assert ctl.snapshot.level is Level.OK


def test_history_and_status_come_back_to_the_callback(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 2)
    ctl = controller_for(factory)
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000):
        ctl.grant(["usage"])
    entries = wait_result(qtbot, lambda done, err: ctl.run(lambda c: c.history(500), done, err))
    assert [e.verdict for e in entries] == ["delivered", "delivered"]
    status = wait_result(qtbot, lambda done, err: ctl.run(lambda c: c.status(), done, err))
    assert status.backend("keymanager").queued == 0


def test_preview_with_hypothetical_grants(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 1)
    enqueue(factory, 1, "perf.load")
    ctl = controller_for(factory)

    def preview(granted):
        return wait_result(qtbot, lambda done, err: ctl.run(
            lambda c: c.preview(reveal=False, granted=granted), done, err))

    (km_preview,) = preview(["perf"])
    assert km_preview.requests == [] and km_preview.held_back
    (km_preview,) = preview(["performance"])
    assert len(km_preview.requests) == 1
    assert b"9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541" not in km_preview.requests[0].body
    assert km.requests == []  # a preview sends nothing


def test_revoke_deletes_queue_and_failed_command_is_reported(qtbot, km, make_factory,
                                                             controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 3)
    ctl = controller_for(factory)
    result = wait_result(qtbot, lambda done, err: ctl.revoke(["usage"], done, err))
    assert result.deleted == 3 and not result.granted

    def track(name):
        return lambda c: c.track(name, kind="number", value=1)

    kind, error = wait_answer(qtbot, lambda done, err: ctl.run(track("undeclared.event"), done,
                                                               err, op="track"))
    assert kind == "error" and error.op == "track" and not error.bug
    assert "matches no consent category" in error.message
    with qtbot.waitSignal(ctl.failed) as got:  # no on_error: the failure is not lost
        ctl.run(track("undeclared.event"), op="track")
    assert "matches no consent category" in got.args[0].message
    tracked = wait_result(qtbot, lambda done, err: ctl.run(track("feature.open"), done, err))
    assert tracked.category == "usage"


def test_pause_stops_the_timer_and_send_now_still_sends(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    ctl = controller_for(factory, interval=0.1)
    with qtbot.waitSignal(ctl.stateChanged, check_params_cb=lambda s: s.paused):
        ctl.set_paused(True)
    # Paused is said first; the icon still asks for the consent nobody gave yet.
    assert ctl.snapshot.state == "paused" and ctl.snapshot.level is Level.ATTENTION
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))
    qtbot.waitUntil(lambda: ctl.snapshot.level is Level.PAUSED)
    enqueue(factory, 2)
    qtbot.wait(500)  # several timer periods: paused, nothing leaves
    assert km.requests == []
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000) as got:
        ctl.send_now()
    assert got.args[0].forced and got.args[0].delivered == 2


def test_rejected_credentials_turn_the_icon_to_attention(qtbot, signing_key, make_factory,
                                                         controller_for):
    from app.receiver import KeyManagerReceiver

    with KeyManagerReceiver(api_key="some-other-key", private_key=signing_key) as rx:
        factory = make_factory(km_url=rx.url, pem=rx.public_key_pem)
        enqueue(factory, 1)
        ctl = controller_for(factory)

        def blocked(snap: Snapshot) -> bool:
            return snap.level is Level.ATTENTION and any(p.key == "blocked:keymanager"
                                                         for p in snap.problems)

        with qtbot.waitSignal(ctl.stateChanged, timeout=10_000, check_params_cb=blocked):
            ctl.grant(None)
        problem = next(p for p in ctl.snapshot.problems if p.key == "blocked:keymanager")
        assert problem.notify
        assert ctl.snapshot.queued == 1  # nothing is lost while blocked


def test_many_emits_do_not_exhaust_true(qtbot):
    """PySide6 6.12.0 on CPython 3.11 drops a reference to True on every Python-side emit."""
    import sys

    from PySide6.QtCore import QObject, Signal

    from app.tray.qt_emit import emit

    class Source(QObject):
        changed = Signal(object)

    source = Source()
    got = []
    source.changed.connect(got.append)
    before = sys.getrefcount(True)
    for i in range(20_000):
        emit(source.changed, i)
    assert len(got) == 20_000
    assert sys.getrefcount(True) >= before - 50


def test_status_warnings_become_tray_problems(qtbot, km, make_factory, controller_for, home):
    """A state database moved aside is a status warning; the tray must show it too."""
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    (home / "companion.db").write_bytes(b"garbage, not SQLite" * 64)
    ctl = controller_for(factory)
    snap = ctl.snapshot
    assert snap.level is Level.ATTENTION
    (problem,) = [p for p in snap.problems if p.key.startswith("warning:")]
    assert "moved to" in problem.message and problem.notify


class SlowClient:
    """The real HTTP client, each request delayed: a round of many requests takes long."""

    def __init__(self, client, delay: float) -> None:
        self.client = client
        self.delay = delay

    def send(self, request):
        import time

        time.sleep(self.delay)
        return self.client.send(request)

    def close(self) -> None:
        self.client.close()


def start_slow_round(qtbot, km, make_factory, controller_for):
    """A worker in the middle of one long round: 20 KeyManager requests at 0.5 s each, the
    first one already accepted. Returns the controller and the companion factory."""
    base = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(base, 20)

    def factory():
        companion = base()
        sender = companion.senders["keymanager"]
        sender.client = SlowClient(sender.client, 0.5)
        return companion

    ctl = controller_for(factory)
    with qtbot.waitSignal(ctl.sendStarted, timeout=10_000):
        ctl.grant(None)
    qtbot.waitUntil(lambda: len(km.accepted_events()) >= 1, timeout=5000)
    return ctl, base


def test_quit_mid_round_stops_after_one_request_and_closes_on_the_worker_thread(
        qtbot, km, make_factory, controller_for):
    import time

    ctl, base = start_slow_round(qtbot, km, make_factory, controller_for)
    worker = ctl.worker
    stopped = []
    ctl.worker.stopped.connect(lambda: stopped.append(True), Qt.ConnectionType.DirectConnection)
    started = time.monotonic()
    assert ctl.shutdown(5.0)
    assert time.monotonic() - started < 3.0  # the round was aborted, not waited for
    assert stopped == [True] and worker.companion is None  # stop() ran on the worker thread
    assert len(km.accepted_events()) < 5
    leftover = base()
    try:
        assert sum(leftover.outbox.counts().values()) == 20 - len(km.accepted_events())
    finally:
        leftover.close()


def test_revoke_during_a_long_round_stops_it_before_the_next_request(
        qtbot, km, make_factory, controller_for):
    ctl, base = start_slow_round(qtbot, km, make_factory, controller_for)
    result = wait_result(qtbot, lambda done, err: ctl.revoke(None, done, err), timeout=3000)
    assert result.granted is False and result.deleted >= 15
    assert len(km.accepted_events()) <= 3, "sending went on after the user said no"
    leftover = base()
    try:
        assert leftover.outbox.counts() == {}
    finally:
        leftover.close()


def test_the_worker_keeps_one_database_connection_from_command_to_command(qtbot, km,
                                                                           make_factory,
                                                                           controller_for):
    """The state database has one SQLite connection per thread; on the worker thread it must
    outlive a command, not be opened, set up and closed again by every command and wake-up."""
    ctl = controller_for(make_factory(km_url=km.url, pem=km.public_key_pem))

    def connection(companion):
        return companion.outbox.db.connection()

    first = wait_result(qtbot, lambda done, err: ctl.run(connection, done, err))
    ctl.wake()
    second = wait_result(qtbot, lambda done, err: ctl.run(connection, done, err))
    assert second is first
