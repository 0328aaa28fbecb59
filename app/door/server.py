"""The host endpoint: a Unix domain socket served by threads of its own, never the GUI thread.

Why a plain ``selectors`` server and not ``QLocalServer``: every limit a hostile local process
can push against (connections, partial-line deadline, output bound for clients that never read)
needs byte-level control, which is simplest and testable without a display here. The
transport sits behind one small seam (``app.door.transport``): a Unix domain socket on Linux and
macOS, a named pipe on Windows (``app.door.pipe``); everything below it is shared.

Threads: one I/O thread (accept, read, parse, write; never waits on disk or keyring), one
writer thread that commits the events of everything queued together (group commit) and only
then fills the answers, and a small pool for queries (license, consent, show, flush). Answers
leave each connection in request order whatever thread produced them.

Idle cost: none, no thread polls. The I/O thread sleeps in ``select`` without a timeout unless
a deadline is pending (a partial line, a client not reading, a watched license grace ending);
the writer (``app.door.writer``) sleeps on its queue. The chore (the inbox) runs at start, when
asked (the tray's round), when a host connects and on ``flush``/``wake``. Watchers are checked
on ``notify``, ``wake``, and at requests (at most once per ``watch_interval``: how a change
made by another process is noticed).

Who can connect: the socket lives in a 0700 directory owned by this user (created if needed,
refused if it belongs to someone else), the socket itself is 0600, and on Linux the peer's uid
(``SO_PEERCRED``) must be ours. The pipe admits only this user by its DACL (``app.door.pipe``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.door import protocol as hp
from app.door.coalesce import Coalesced
from app.door.conn import Conn, Slot
from app.door.dispatch import (
    Commit,
    Dispatcher,
    HostSide,
    Query,
    encode_answer,
    push,
    run_query,
)
from app.door.endpoint import HostServerError, Limits
from app.door.license import grace_left
from app.door.transport import ACCEPT, READ, WRITE, SocketTransport, Transport
from app.door.writer import HostWriter

log = logging.getLogger(__name__)

__all__ = ["HostServer", "HostServerError", "Limits"]

MAX_IN_FLIGHT = 256  # unanswered requests per connection before we stop reading it
DRAIN_SECONDS = 1.0  # after ``line_too_long``: how long the rest of a client's line is read
DRAIN_BYTES = 8 * 1024 * 1024  # ... and how much of it, before the connection closes anyway
WAKE_EVERY = 1.0  # seconds: hosts' ``wake`` requests take the inbox and check watchers this often


def transport_for(address: Path | str) -> Transport:
    """The transport serving ``address``: a ``\\\\.\\pipe\\`` name is a Windows named pipe
    (``app.door.pipe``, imported only there), anything else a Unix socket."""
    if isinstance(address, str) and address.startswith("\\\\.\\pipe\\"):
        from app.door.pipe import PipeTransport

        return PipeTransport(address)
    return SocketTransport(Path(address))


class HostServer:
    """Serves the host protocol on ``path`` until ``stop``.

    Args:
        host: the tray's side (``app.door.companion_side.CompanionHost``).
        path: the socket file (``app.door.client.socket_path(product_id)``), or on Windows the
            pipe name (``app.door.client.pipe_name(product_id)``).
        limits: what one client may cost.
        chore: run on the writer thread at start and whenever asked (ingesting the inbox),
            so all host writes share one thread.
        transport: how clients reach us (default: chosen by ``path``, see
            ``transport_for``).
    """

    def __init__(self, host: HostSide, path: Path | str, limits: Limits | None = None,
                 chore: Callable[[], object] | None = None,
                 transport: Transport | None = None) -> None:
        self.host = host
        self._transport = transport or transport_for(path)
        self.path = self._transport.address
        self.limits = limits or Limits()
        self.chore = chore
        self.dispatcher = Dispatcher(host)
        self._conns: set[Conn] = set()
        self._done: queue.SimpleQueue[tuple[Conn, Slot | None, bytes]] = queue.SimpleQueue()
        self._writer = HostWriter(host, self._delivered, chore)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="host-query")
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watch_checked = -1e9  # monotonic time of the last check started
        self._watch_again = False  # a check was asked for while one ran
        self._watch_at: float | None = None  # monotonic: a license grace ends, check then
        self._watch_busy = False
        self._watch_last: dict[str, Any] = {}
        self.wakes = Coalesced(self._woken, WAKE_EVERY)  # a flood of ``wake``: one look
        self.running = False
        self.turns = 0  # times the I/O thread woke up (idle: none; tests and benchmarks)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Open the socket (or pipe) and start the threads.

        Raises:
            HostServerError: another live companion answers on the path (or holds the pipe
                name), or the directory is unsafe.
        """
        self._transport.open()
        self.running = True
        self._writer.start()  # the chore (the inbox) first
        thread = threading.Thread(target=self._io_loop, name="host-io", daemon=True)
        thread.start()
        self._threads.append(thread)
        log.info("host endpoint listening on %s", self.path)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, commit what was already read, close everything, remove the socket."""
        if not self.running:
            return
        self._stopping.set()
        self.wakes.cancel()
        self._wake()
        for thread in self._threads:
            thread.join(timeout)
        self._writer.stop(timeout)  # after the I/O thread: every line it read is committed
        # A query stuck on a hung keyring or network ends by its own timeout; do not wait here.
        self._pool.shutdown(wait=False, cancel_futures=True)
        for conn in list(self._conns):
            self._close(conn)
        self._transport.close()
        self.running = False

    def notify(self) -> None:
        """Check consent and license for ``watch`` pushes now (the tray calls it after a change).

        Thread-safe: the check itself runs on the I/O thread's next turn, then in the pool.
        """
        self._watch_checked = -1e9
        self._watch_again = True
        self._wake()

    def connection_count(self) -> int:
        """Open connections (for status and tests)."""
        return len(self._conns)

    # -- the I/O thread -------------------------------------------------------------------

    def _wake(self) -> None:
        self._transport.wake()

    def _woken(self) -> None:
        """A host's ``wake`` (coalesced): take the inbox, check watchers on the next turn."""
        if self._stopping.is_set():
            return
        self.run_chore_soon()
        self._watch_again = True
        self._wake()

    def _io_loop(self) -> None:
        while not self._stopping.is_set():
            self.turns += 1
            try:
                events = self._transport.select(self._next_deadline())
            except OSError:
                continue
            for data, mask in events:
                try:
                    if data == ACCEPT:
                        self._accept()
                    elif isinstance(data, Conn):
                        if mask & READ:
                            self._read(data)
                        if mask & WRITE and not data.closed:
                            self._write(data)
                except Exception:
                    log.exception("host endpoint: unexpected error (the connection is closed)")
                    if isinstance(data, Conn):
                        self._close(data)
            try:
                self._deliver()
                self._timers()
            except Exception:
                log.exception("host endpoint: unexpected error delivering answers")

    def _accept(self) -> None:
        handle = self._transport.accept()
        if handle is None:
            return
        if len(self._conns) >= self.limits.max_connections:
            with contextlib.suppress(OSError):  # BlockingIOError included
                handle.send(hp.encode(hp.ErrorReply(
                    hp.TOO_MANY_CONNECTIONS, f"at most {self.limits.max_connections} host "
                    "connections; use one persistent connection per process").to_dict()))
            handle.close()
            return
        conn = Conn(handle)
        self._conns.add(conn)
        self._transport.register(handle, READ, conn)
        self.run_chore_soon()  # a host that connects may have left events in the inbox

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.active_at = time.monotonic()
        if conn.drain_until is not None:  # answered and half-closed: discard, bounded
            conn.drained += len(data)
            if not data or conn.drained > DRAIN_BYTES:
                self._close(conn)
            return
        if not data:
            # The client is done sending (half-close, as ``socat``/``nc`` do): whole lines are
            # still committed and answered, then the connection closes; a partial line never
            # is. A client that closed entirely makes the answers fail to write: closed then.
            conn.eof = True
            del conn.inbuf[conn.inbuf.rfind(b"\n") + 1:]
            self._parse_lines(conn)
            return
        conn.inbuf += data
        self._parse_lines(conn)

    def _parse_lines(self, conn: Conn) -> None:
        """Handle the complete lines read so far, at most ``MAX_IN_FLIGHT`` unanswered."""
        if conn.parsing or conn.closed:
            return
        conn.parsing = True
        try:
            while not conn.closing and len(conn.slots) < MAX_IN_FLIGHT:
                end = conn.inbuf.find(b"\n")
                if end < 0:
                    break
                line = bytes(conn.inbuf[:end])
                del conn.inbuf[:end + 1]
                self._handle(conn, line)
        finally:
            conn.parsing = False
        if conn.closed:
            return
        complete = b"\n" in conn.inbuf  # lines waiting for our answers, not for the client
        if conn.closing:
            conn.inbuf.clear()
        elif not complete and len(conn.inbuf) > hp.MAX_LINE:
            self._answer_now(conn, hp.ErrorReply(hp.LINE_TOO_LONG, f"a line longer than "
                                                 f"{hp.MAX_LINE} bytes", close=True).to_dict())
            conn.closing = True
            conn.linger = True  # a client still sending its line must see the answer
            conn.inbuf.clear()
        if conn.inbuf and not complete:
            conn.partial_since = conn.partial_since or time.monotonic()
        else:
            conn.partial_since = None
        self._update_interest(conn)

    def _handle(self, conn: Conn, line: bytes) -> None:
        request = hp.parse_line(line)
        work = self.dispatcher.dispatch(request, conn.session)
        op = getattr(request, "op", "")
        if op == "flush":
            self.run_chore_soon()
        if op == "wake":
            self.wakes()  # something changed: the inbox and the watchers, once per interval
        elif op == "watch":
            self._watch_again = True  # the baseline
        elif self._watch_checked + self.limits.watch_interval <= time.monotonic():
            self._watch_again = True  # a change made elsewhere is noticed at a request
        if isinstance(request, hp.ErrorReply) and request.close:
            conn.closing = True
        slot = Slot()
        conn.slots.append(slot)
        if isinstance(work, Commit):
            self._writer.submit((conn, slot), work)
        elif isinstance(work, Query):
            self._pool.submit(self._run_query, conn, slot, work)
        else:
            slot.data = encode_answer(work)
            self._flush_slots(conn)

    def _answer_now(self, conn: Conn, answer: dict[str, Any]) -> None:
        slot = Slot()
        slot.data = hp.encode(answer)
        conn.slots.append(slot)
        self._flush_slots(conn)

    def _run_query(self, conn: Conn, slot: Slot, work: Query) -> None:
        self._done.put((conn, slot, encode_answer(run_query(work))))
        self._wake()

    def _deliver(self) -> None:
        """Answers and pushes finished by other threads, into each connection's output."""
        while True:
            try:
                conn, slot, data = self._done.get_nowait()
            except queue.Empty:
                return
            if conn.closed:
                continue
            if slot is None:
                conn.outbuf += data
                if len(conn.outbuf) > 2 * self.limits.max_output:
                    self._close(conn)  # a watcher that never reads: bounded, then closed
                    continue
            else:
                slot.data = data
            self._flush_slots(conn)

    def _flush_slots(self, conn: Conn) -> None:
        while conn.slots and conn.slots[0].data is not None:
            conn.outbuf += conn.slots.popleft().data or b""
        self._write(conn)
        if b"\n" in conn.inbuf and not conn.parsing:
            self._parse_lines(conn)  # lines held back while MAX_IN_FLIGHT were unanswered

    def _write(self, conn: Conn) -> None:
        if conn.closed:
            return
        if conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            if sent:
                del conn.outbuf[:sent]
                conn.stalled_since = None
            elif conn.stalled_since is None:
                conn.stalled_since = time.monotonic()
        if conn.finished() and not self._linger(conn):
            self._close(conn)
            return
        self._update_interest(conn)

    def _update_interest(self, conn: Conn) -> None:
        if conn.closed:
            return
        if conn.finished() and not self._linger(conn):
            self._close(conn)
            return
        mask = 0
        if conn.drain_until is not None:
            mask = READ
        elif not conn.closing and not conn.eof and len(conn.outbuf) < self.limits.max_output \
                and len(conn.slots) < MAX_IN_FLIGHT:
            mask |= READ
        if conn.outbuf:
            mask |= WRITE
            if conn.stalled_since is None:
                conn.stalled_since = time.monotonic()
        else:
            conn.stalled_since = None
        registered = conn.registered
        if not mask:
            if registered:
                self._transport.unregister(conn.sock)  # paused until its answers are written
                conn.registered = False
        elif registered:
            self._transport.modify(conn.sock, mask, conn)
        else:
            self._transport.register(conn.sock, mask, conn)
            conn.registered = True

    def _linger(self, conn: Conn) -> bool:
        """True while a connection answered ``line_too_long`` stays open to be drained.

        Closing a socket whose input was not read makes the kernel reset the connection, and a
        client still writing its line gets that reset instead of our answer. So the answer is
        followed by a half-close (the client reads it, then end of file), and what the client
        still sends is read and discarded for at most ``DRAIN_SECONDS``/``DRAIN_BYTES``.
        """
        if conn.drain_until is not None:
            return True
        shutdown = getattr(conn.sock, "shutdown", None)  # a named pipe has no half-close
        if not conn.linger or shutdown is None:
            return False
        conn.linger = False
        try:
            shutdown(socket.SHUT_WR)
        except OSError:
            return False
        conn.drain_until = time.monotonic() + DRAIN_SECONDS
        return True

    def _close(self, conn: Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._conns.discard(conn)
        if conn.registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._transport.unregister(conn.sock)
        conn.registered = False
        conn.sock.close()

    def _timers(self) -> None:
        now = time.monotonic()
        for conn in list(self._conns):
            if conn.drain_until is not None:
                if now >= conn.drain_until:
                    self._close(conn)
            elif conn.partial_since is not None and now - conn.partial_since > \
                    self.limits.partial_deadline:
                conn.inbuf.clear()
                conn.partial_since = None
                self._answer_now(conn, hp.ErrorReply(
                    hp.TIMEOUT, f"a line was not finished within "
                    f"{self.limits.partial_deadline:g} s; the connection is closed").to_dict())
                conn.closing = True
                self._write(conn)
            elif conn.stalled_since is not None and conn.outbuf and \
                    now - conn.stalled_since > self.limits.stall_deadline:
                log.info("host endpoint: closing a client that does not read its answers")
                self._close(conn)
            elif conn.idle() and now - conn.active_at > self.limits.idle_timeout:
                log.info("host endpoint: closing a connection idle for %g s",
                         self.limits.idle_timeout)
                self._close(conn)
        if self._watch_at is not None and now >= self._watch_at:
            self._watch_at = None
            self._watch_again = True
        if self._watch_again and not self._watch_busy:
            self._watch_again = False
            if any(c.session.watching for c in self._conns):
                self._watch_checked = now
                self._watch_busy = True
                self._pool.submit(self._watch_check)

    def _next_deadline(self) -> float | None:
        """Seconds until the I/O thread must look again by itself; None: only when woken."""
        due: list[float] = []
        for conn in self._conns:
            if conn.drain_until is not None:
                due.append(conn.drain_until)
            if conn.partial_since is not None:
                due.append(conn.partial_since + self.limits.partial_deadline)
            if conn.stalled_since is not None and conn.outbuf:
                due.append(conn.stalled_since + self.limits.stall_deadline)
            if conn.idle():
                due.append(conn.active_at + self.limits.idle_timeout)
        if self._watch_at is not None:
            due.append(self._watch_at)
        if self._watch_again and not self._watch_busy:
            return 0.0
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic()) + 0.01

    # -- watch ----------------------------------------------------------------------------

    def _watch_check(self) -> None:
        try:
            snapshot = getattr(self.host, "watch_snapshot", None)
            state = snapshot() if snapshot else {"consent": self.host.consent()}
            left = grace_left(state.get("license"), time.time())
            self._watch_at = None if left is None else time.monotonic() + left + 1.0
            for kind, body in state.items():
                if self._watch_last.get(kind) != body:
                    first = kind not in self._watch_last
                    self._watch_last[kind] = body
                    if first:
                        continue
                    data = hp.encode(push(kind, body))
                    for conn in list(self._conns):
                        if conn.session.watching:
                            self._done.put((conn, None, data))
        except Exception:
            log.exception("host endpoint: watch check failed")
        finally:
            self._watch_busy = False
            self._wake()

    # -- the writer thread ----------------------------------------------------------------

    def run_chore_soon(self) -> None:
        """Run the chore at the writer's next idle moment (e.g. at the tray's send round)."""
        self._writer.run_chore_soon()

    def _delivered(self, answers: Sequence[tuple[Any, bytes]]) -> None:
        """The writer's answers after a group commit, to the I/O thread."""
        for (conn, slot), data in answers:
            self._done.put((conn, slot, data))
        self._wake()
