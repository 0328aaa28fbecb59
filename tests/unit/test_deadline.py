"""The exchange deadline with real socket pairs: a bound socket's calls end by the deadline.

The same file runs under the Windows CPython in the Windows lane: nothing here needs a second
thread to wake a blocked read.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from app.delivery.deadline import DeadlineExceeded, Exchange, bound, clamp

pytestmark = pytest.mark.timeout(20)


def trickle(sock: socket.socket, stop: threading.Event, every: float = 0.05) -> threading.Thread:
    """A peer that sends one byte every ``every`` seconds until ``stop``."""

    def run() -> None:
        while not stop.wait(every):
            try:
                sock.sendall(b"x")
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_trickling_peer_cannot_hold_reads_past_the_deadline():
    ours, theirs = socket.socketpair()
    stop = threading.Event()
    trickle(theirs, stop)
    got = 0
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError), Exchange(0.5, per_call=10) as exchange:
            bound(ours)
            while True:  # every read gets a byte well within its own timeout
                got += len(ours.recv(10))
        elapsed = time.monotonic() - started
        assert exchange.expired
        assert got >= 3  # the reads did go on until the deadline
        assert 0.4 < elapsed < 2.0
    finally:
        stop.set()
        ours.close()
        theirs.close()


def test_a_silent_peer_ends_at_the_deadline_not_the_per_call_timeout():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        with pytest.raises(TimeoutError), Exchange(0.3, per_call=10) as exchange:
            bound(ours).recv(10)
        assert exchange.expired
        assert time.monotonic() - started < 2.0


def test_a_call_after_the_deadline_is_refused_without_waiting():
    ours, theirs = socket.socketpair()
    with ours, theirs, Exchange(0.05) as exchange:
        bound(ours)
        time.sleep(0.1)
        theirs.sendall(b"late")  # data is there, but the time is up
        with pytest.raises(DeadlineExceeded):
            ours.recv(10)
        assert exchange.expired


def test_an_exchange_that_ends_in_time_is_not_expired_later():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with Exchange(0.2) as exchange:
            bound(ours)
            theirs.sendall(b"hi")
            assert ours.recv(10) == b"hi"
        time.sleep(0.3)  # past the deadline: the finished exchange stays in time
        assert not exchange.expired
        theirs.sendall(b"again")  # outside an exchange the socket is left alone
        assert ours.recv(10) == b"again"


def test_a_kept_socket_gets_the_full_time_of_its_next_exchange():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        bound(ours)
        with Exchange(0.1):
            theirs.sendall(b"a")
            ours.recv(1)
            time.sleep(0.09)  # the first exchange ends with almost nothing left
            theirs.sendall(b"b")
            ours.recv(1)
        with Exchange(5, per_call=2):
            clamp(ours)
            assert ours.gettimeout() == pytest.approx(2, abs=0.01)


def test_nested_exchanges_restore_the_outer_one():
    ours, theirs = socket.socketpair()
    with ours, theirs, Exchange(10, per_call=3):
        with Exchange(1, per_call=1):
            clamp(ours)
            assert ours.gettimeout() <= 1
        clamp(ours)
        assert ours.gettimeout() == pytest.approx(3, abs=0.01)


def test_a_tls_socket_is_bound_too():
    """The TLS layer's own read is clamped: a handshake that never comes ends by the deadline."""
    ours, theirs = socket.socketpair()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with ours, theirs:
        tls = context.wrap_socket(ours, do_handshake_on_connect=False)
        with tls:
            started = time.monotonic()
            with pytest.raises((TimeoutError, ssl.SSLError)), Exchange(0.3, per_call=10):
                bound(tls).do_handshake()  # the peer never answers the client hello
            assert time.monotonic() - started < 2.0
            assert type(tls).__name__ == "BoundedSSLSocket"
