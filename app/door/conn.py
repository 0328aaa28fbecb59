"""What the host endpoint keeps per connection (its I/O thread alone touches it).

``Slot``: one request's place in the answer order; filled by whichever thread produced the
answer (socket thread, writer, query pool), written out only once every earlier slot is filled.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.door.dispatch import Session

if TYPE_CHECKING:
    from app.door.transport import Handle


class Slot:
    """One request's answer, ``None`` until it is ready."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: bytes | None = None


@dataclass(eq=False)
class Conn:
    """One host connection: its buffers, answer order, deadlines and how it ends."""

    sock: Handle  # a socket, or a pipe instance (``app.door.pipe``)
    session: Session = field(default_factory=Session)
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    slots: collections.deque[Slot] = field(default_factory=collections.deque)
    partial_since: float | None = None
    stalled_since: float | None = None
    active_at: float = field(default_factory=time.monotonic)  # last bytes read from it
    closing: bool = False  # close once the output is written
    eof: bool = False  # the client half-closed: answer what it sent, then close
    closed: bool = False
    registered: bool = True
    parsing: bool = False
    linger: bool = False  # once answered, half-close and read on, so a sender sees the answer
    drain_until: float | None = None  # lingering: what it sends is discarded until then
    drained: int = 0  # bytes discarded while lingering

    def finished(self) -> bool:
        """Nothing more will be answered or written: the connection may close."""
        done_reading = self.closing or (self.eof and b"\n" not in self.inbuf)
        return done_reading and not self.outbuf and not self.slots

    def idle(self) -> bool:
        """Nothing sent, pending or watched: only the idle timeout keeps it open."""
        return (not self.session.watching and self.partial_since is None and not self.inbuf
                and not self.outbuf and not self.slots)
