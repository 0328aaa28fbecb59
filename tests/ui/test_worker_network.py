"""The worker's network gate: offline and metered rounds try nothing and grow no backoff; the
network coming back sends at once. A backend on this computer is never held back.

The "remote" backend is an https URL under ``.invalid`` (it never resolves), so a round that
really tries it leaves a counted failure, and one that does not leaves none.
"""

from __future__ import annotations

import pytest

from app.core.settings import set_send_on_metered
from app.delivery.network import NetworkState, Reachability
from tests.ui.conftest import wait_result
from tests.ui.test_worker import enqueue

pytestmark = pytest.mark.timeout(60)
REMOTE = "https://nom.example.invalid/v2/"
OFFLINE = NetworkState(Reachability.OFFLINE, False, "test")
ONLINE = NetworkState(Reachability.ONLINE, False, "test")
METERED = NetworkState(Reachability.ONLINE, True, "test")


def backend_state(qtbot, ctl, name="telemetrydeck"):
    status = wait_result(qtbot, lambda done, err: ctl.run(lambda c: c.status(), done, err))
    return status.backend(name).state


def set_network(qtbot, ctl, state):
    ctl.network_changed(state)
    qtbot.waitUntil(lambda: ctl.worker._network == state)


def test_offline_tries_nothing_and_the_network_coming_back_sends_at_once(
        qtbot, make_factory, controller_for):
    factory = make_factory(td_url=REMOTE, timeout=3)
    enqueue(factory, 1)
    ctl = controller_for(factory, interval=3600)  # no timer round during the test
    set_network(qtbot, ctl, OFFLINE)
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))  # grant kicks one round
    ctl.send_now()  # the user's "Send now" too
    qtbot.waitUntil(lambda: any("no network" in d for d in ctl.snapshot.details))
    state = backend_state(qtbot, ctl)
    assert state.failures == 0 and state.last_failure is None and not state.next_at

    with qtbot.waitSignal(ctl.sendFinished, timeout=20_000):
        ctl.network_changed(ONLINE)  # back: tried at once, not at the next timer round
    state = backend_state(qtbot, ctl)
    assert state.failures == 1 and state.last_failure is not None  # it was really tried
    assert not any("no network" in d for d in ctl.snapshot.details)


def test_metered_waits_until_the_user_allows_it(qtbot, make_factory, controller_for):
    factory = make_factory(td_url=REMOTE, timeout=3)
    enqueue(factory, 1)
    ctl = controller_for(factory, interval=3600)
    set_network(qtbot, ctl, METERED)
    wait_result(qtbot, lambda done, err: ctl.grant(None, done, err))
    ctl.send_now()
    qtbot.waitUntil(lambda: any("metered" in d for d in ctl.snapshot.details))
    assert backend_state(qtbot, ctl).failures == 0

    # Allowing it changes the state database, which wakes the sender (no timer runs).
    with qtbot.waitSignal(ctl.sendFinished, timeout=20_000):
        wait_result(qtbot, lambda done, err: ctl.run(
            lambda c: set_send_on_metered(c.state, True), done, err))
    assert backend_state(qtbot, ctl).failures == 1


def test_a_backend_on_this_computer_sends_whatever_the_network(qtbot, km, make_factory,
                                                               controller_for):
    factory = make_factory(km_url=km.url, pem=km.public_key_pem)
    enqueue(factory, 2)
    ctl = controller_for(factory, interval=3600)
    set_network(qtbot, ctl, OFFLINE)
    with qtbot.waitSignal(ctl.sendFinished, timeout=10_000):
        ctl.grant(None)
    assert len(km.accepted_events()) == 2


def test_no_network_information_behaves_as_before(qtbot, make_factory, controller_for):
    factory = make_factory(td_url=REMOTE, timeout=3)
    enqueue(factory, 1)
    ctl = controller_for(factory, interval=3600)
    set_network(qtbot, ctl, NetworkState())  # no backend: "unknown", not offline
    with qtbot.waitSignal(ctl.sendFinished, timeout=20_000):
        ctl.grant(None)
    assert backend_state(qtbot, ctl).failures == 1
