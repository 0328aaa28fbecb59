"""A total deadline for one blocking network exchange, kept by the sockets themselves.

Socket timeouts bound each call, not the whole: a peer sending one byte just before every
timeout never trips them. An ``Exchange`` is entered on the thread doing the I/O. A socket made
``bound`` sets its own timeout, at the start of every blocking call, to the exchange's per-call
timeout or to what is left of the exchange, whichever is shorter, and refuses the call once
nothing is left. CPython bounds a whole call by the timeout it starts with (a ``sendall``, a TLS
read, write or handshake included), so the exchange as a whole ends by its deadline.

No thread watches the clock, and nothing has to wake a read blocked in another thread: on
Windows neither ``shutdown`` nor closing a duplicate of the socket does that, so the same rule
holds there as on Linux and macOS.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Protocol, TypeVar

_current = threading.local()
_SLACK = 0.01  # a timed-out call may return a hair before the deadline it was cut to


class DeadlineExceeded(TimeoutError):
    """The exchange's deadline had passed when a socket call was about to start."""


class Exchange:
    """One exchange's deadline; use as a context manager on the thread that does the I/O.

    Args:
        seconds: how long the whole exchange may take from ``__enter__``.
        per_call: the longest any single socket call may take (the read timeout).
    """

    def __init__(self, seconds: float, per_call: float | None = None) -> None:
        self.seconds = seconds
        self.per_call = seconds if per_call is None else per_call
        self.expires = 0.0
        self._ended = 0.0
        self._outer: Exchange | None = None

    def remaining(self) -> float:
        """Seconds left (negative once expired)."""
        return self.expires - time.monotonic()

    @property
    def expired(self) -> bool:
        """Whether the deadline passed while the exchange ran (a call cut short by it ends
        right at it)."""
        now = self._ended or time.monotonic()
        return self.expires > 0 and now >= self.expires - _SLACK

    def __enter__(self) -> Exchange:
        self.expires = time.monotonic() + self.seconds
        self._ended = 0.0
        self._outer = getattr(_current, "exchange", None)
        _current.exchange = self
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._ended = time.monotonic()
        _current.exchange = self._outer


class _Timed(Protocol):
    def settimeout(self, value: float | None, /) -> None: ...


def clamp(sock: _Timed) -> None:
    """Before a blocking call on ``sock``: give it the time the current exchange allows.

    Outside an exchange nothing changes. Raises ``DeadlineExceeded`` once the time is up.
    """
    exchange: Exchange | None = getattr(_current, "exchange", None)
    if exchange is None:
        return
    left = exchange.remaining()
    if left <= 0:
        raise DeadlineExceeded(f"the {exchange.seconds:g} s for this exchange are up")
    sock.settimeout(min(exchange.per_call, left))


class _Bounded:
    """Mixin: every blocking call clamps the socket's timeout first (see ``clamp``)."""

    __slots__ = ()

    def recv(self, *args: Any) -> Any:
        clamp(self)  # type: ignore[arg-type]
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> Any:
        clamp(self)  # type: ignore[arg-type]
        return super().recv_into(*args)  # type: ignore[misc]

    def send(self, *args: Any) -> Any:
        clamp(self)  # type: ignore[arg-type]
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> Any:
        clamp(self)  # type: ignore[arg-type]
        return super().sendall(*args)  # type: ignore[misc]

    def read(self, *args: Any) -> Any:  # ssl.SSLSocket
        clamp(self)  # type: ignore[arg-type]
        return super().read(*args)  # type: ignore[misc]

    def write(self, *args: Any) -> Any:  # ssl.SSLSocket
        clamp(self)  # type: ignore[arg-type]
        return super().write(*args)  # type: ignore[misc]

    def do_handshake(self, *args: Any) -> Any:  # ssl.SSLSocket
        clamp(self)  # type: ignore[arg-type]
        return super().do_handshake(*args)  # type: ignore[misc]


_bounded_classes: dict[type, type] = {}
_S = TypeVar("_S")


def bound(sock: _S) -> _S:
    """Put ``sock`` (a socket or a TLS socket) under the deadline of whatever exchange uses it.

    The object keeps its identity and state; only its class gains the clamping calls, so
    whoever already holds it (a connection, a TLS layer, a file made by ``makefile``) is covered.
    The socket is clamped once at once, so a TLS handshake started right after ends in time.
    """
    cls = type(sock)
    if not issubclass(cls, _Bounded):
        sub = _bounded_classes.get(cls)
        if sub is None:
            sub = _bounded_classes.setdefault(
                cls, type(f"Bounded{cls.__name__}", (_Bounded, cls), {"__slots__": ()}))
        sock.__class__ = sub
    clamp(sock)  # type: ignore[arg-type]
    return sock
