"""The send decision from the OS's network information: a pure function, every combination."""

from __future__ import annotations

import itertools

import pytest

from app.delivery.network import (
    UNKNOWN_NETWORK,
    NetworkState,
    Reachability,
    decide,
    decide_for,
    try_at_once,
)

ON, OFF, UNK = Reachability.ONLINE, Reachability.OFFLINE, Reachability.UNKNOWN


@pytest.mark.parametrize(("reach", "metered", "allow", "send", "grow"), [
    (ON, False, False, True, True),
    (ON, None, False, True, True),
    (ON, True, False, False, False),
    (ON, True, True, True, True),
    (OFF, False, True, False, False),
    (OFF, True, True, False, False),
    (OFF, None, False, False, False),
    (UNK, None, False, True, True),
    (UNK, True, False, False, False),
    (UNK, True, True, True, True),
])
def test_table(reach, metered, allow, send, grow):
    decision = decide(reach, metered, allow)
    assert (decision.send, decision.may_grow_backoff) == (send, grow)
    assert decision.reason


def test_never_grows_the_backoff_without_trying():
    for reach, metered, allow in itertools.product(Reachability, (True, False, None), (True, False)):
        decision = decide(reach, metered, allow)
        assert decision.may_grow_backoff == decision.send


def test_reasons_say_why():
    assert "no network" in decide(OFF, None, False).reason
    assert "Send on metered connections" in decide(ON, True, False).reason


def test_a_local_backend_is_sent_to_even_offline():
    assert decide(OFF, True, False, local_backend=True).send


def test_reconnect_means_try_at_once():
    assert try_at_once(OFF, ON) and try_at_once(OFF, UNK)
    assert not try_at_once(ON, ON) and not try_at_once(ON, OFF) and not try_at_once(UNK, ON)
    assert not try_at_once(OFF, OFF)


def test_no_backend_behaves_as_before():
    assert decide_for(UNKNOWN_NETWORK, allow_metered=False).send
    assert "no network information" in UNKNOWN_NETWORK.describe()
    assert NetworkState(ON, True, "networkmanager").describe() == \
        "online, metered (from networkmanager)"
