"""The deadline watchdog with real socket pairs: a blocked read is woken at the deadline."""

from __future__ import annotations

import socket
import sys
import threading

import pytest

from app.delivery.deadline import Exchange, Watchdog, release, watch

pytestmark = [
    pytest.mark.timeout(20),
    pytest.mark.skipif(sys.platform == "win32", reason="Wine 8 does not wake a blocked recv on "
                       "shutdown (only on close); on Windows each read is bounded by the "
                       "socket timeout, the total deadline is checked on a real Windows machine "
                       "(docs/deploying.md)"),
]


@pytest.fixture()
def dog():
    watchdog = Watchdog()
    yield watchdog
    watchdog.stop()


def test_a_blocked_read_is_woken_at_the_deadline(dog):
    ours, theirs = socket.socketpair()
    with ours, theirs, Exchange(0.3, dog) as exchange:
        watch(ours)
        assert ours.recv(10) == b""  # the peer never writes: only the watchdog ends this
        assert exchange.expired


def test_an_exchange_that_ends_in_time_is_left_alone(dog):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with Exchange(0.2, dog) as exchange:
            watch(ours)
            theirs.sendall(b"hi")
            assert ours.recv(10) == b"hi"
        threading.Event().wait(0.4)  # past the deadline: the finished exchange is not expired
        assert not exchange.expired
        theirs.sendall(b"again")
        assert ours.recv(10) == b"again"


def test_a_later_exchange_with_an_earlier_deadline_is_served_first(dog):
    slow_a, slow_b = socket.socketpair()
    fast_a, fast_b = socket.socketpair()
    woken: list[str] = []

    def wait(name: str, seconds: float, sock: socket.socket) -> None:
        with Exchange(seconds, dog):
            watch(sock)
            sock.recv(10)
            woken.append(name)

    slow = threading.Thread(target=wait, args=("slow", 1.0, slow_a))
    slow.start()
    threading.Event().wait(0.1)
    wait("fast", 0.2, fast_a)
    assert woken == ["fast"]
    slow.join()
    assert woken == ["fast", "slow"]
    for sock in (slow_a, slow_b, fast_a, fast_b):
        sock.close()


def test_a_socket_released_mid_exchange_stays_watched_until_the_end(dog):
    ours, theirs = socket.socketpair()
    dup = ours.dup()
    with ours, theirs, Exchange(0.3, dog) as exchange:
        watch(dup)
        release(dup)  # the connection let go of it; the read goes on
        assert dup.fileno() != -1
        assert ours.recv(10) == b""
        assert exchange.expired
    assert dup.fileno() == -1  # closed once the exchange ended


def test_release_outside_an_exchange_closes_at_once():
    ours, theirs = socket.socketpair()
    release(ours)
    assert ours.fileno() == -1
    theirs.close()
