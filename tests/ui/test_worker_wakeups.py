"""Sending is event-driven: an idle worker keeps no timer; an enqueue, a retry or a grant wake it.

Checked on the worker's own timer state and on what the receiver got, never on elapsed time.
"""

from __future__ import annotations

import pytest

from app.receiver.faults import Respond
from tests.ui.conftest import wait_result
from tests.ui.test_worker import enqueue

pytestmark = pytest.mark.timeout(60)
HOUR = 3600.0  # the fallback interval: long enough that only a wake can explain a send


def timer_active(ctl) -> bool:
    timer = ctl.worker._timer
    return timer is not None and timer.isActive()


def test_an_idle_worker_keeps_no_timer(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    ctl = controller_for(factory, interval=HOUR)
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))
    qtbot.wait(300)  # the grant's round has run and ended with nothing to send
    assert not timer_active(ctl)
    assert km.requests == []


def test_wake_sends_what_was_enqueued_elsewhere(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    ctl = controller_for(factory, interval=HOUR)
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))
    watcher = ctl.worker._watcher
    # Only the wake, not the database watcher, may start this round (on the worker's thread).
    wait_result(qtbot, lambda done, err: ctl.run(
        lambda c: watcher.blockSignals(True), done, err))
    enqueue(factory, 3)
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000) as sent:
        ctl.wake()
    assert sent.args[0].delivered == 3
    assert len(km.accepted_events()) == 3
    qtbot.waitUntil(lambda: not ctl.snapshot.sending)
    assert not timer_active(ctl)


def test_another_process_writing_the_database_wakes_the_worker(qtbot, km, make_factory,
                                                                controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    ctl = controller_for(factory, interval=HOUR)
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000) as sent:
        enqueue(factory, 2)  # a second connection, as `license-companion track` would be
    assert sent.args[0].delivered == 2


def test_paused_a_wake_sends_nothing_and_arms_nothing(qtbot, km, make_factory, controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    ctl = controller_for(factory, interval=HOUR)
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))
    with qtbot.waitSignal(ctl.stateChanged, check_params_cb=lambda s: s.paused):
        ctl.set_paused(True)
    enqueue(factory, 1)
    ctl.wake()
    qtbot.waitUntil(lambda: ctl.snapshot.queued == 1)
    qtbot.wait(300)
    assert km.requests == [] and not timer_active(ctl)
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000):
        ctl.set_paused(False)  # resuming sends what waited
    assert len(km.accepted_events()) == 1


def test_a_failure_arms_one_timer_for_the_retry_and_it_delivers(qtbot, km, make_factory,
                                                               controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 1)
    km.script(Respond(503, headers={"Retry-After": "1"}))
    ctl = controller_for(factory, interval=HOUR)
    rounds = []  # every round's summary, so the retry cannot be missed however fast it comes
    ctl.sendFinished.connect(rounds.append)
    ctl.grant(None)
    qtbot.waitUntil(lambda: len(rounds) >= 1, timeout=10_000)
    assert rounds[0].delivered == 0 and rounds[0].remaining == 1
    # The single-shot timer fires once the server's wait (1 s) is over, not the hour-long
    # fallback: the retry round delivers well within the hour.
    qtbot.waitUntil(lambda: any(r.delivered == 1 for r in rounds), timeout=10_000)
    assert len(km.accepted_events()) == 1
    qtbot.waitUntil(lambda: not ctl.snapshot.sending)
    assert not timer_active(ctl)
