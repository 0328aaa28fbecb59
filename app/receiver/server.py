"""The machinery both receivers share: serving, recording, scripted faults, slow mode, shutdown.

Pure stdlib ``http.server``, one thread per connection, nothing done at import time. Every
request is recorded (``rx.requests``), optionally appended as a JSON line to a file, and handed to
``on_request`` once answered so the command line can print it live.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.receiver.faults import (
    CAPTIVE_PORTAL_PAGE,
    NGINX_413_PAGE,
    Behaviour,
    Drop,
    Hang,
    Html,
    Respond,
    RetryAfter,
    TooLarge,
)
from app.receiver.records import RecordedRequest, Reply
from app.storage.files import private_file

MAX_BODY_BYTES = 10 * 1024 * 1024

# Scripted behaviours that answer in place of the spec's handling.
_FAULTS = (Respond, Hang, Drop, Html, TooLarge, RetryAfter)


class _Stopped(Exception):
    """The receiver is shutting down while a request waits."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a Hang must never keep the process alive
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: Receiver) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: Hang/Drop stay unambiguous
    timeout = 30  # a client that stops sending mid-body cannot hold a thread forever

    arrived = 0.0  # time.monotonic() when the request line was read (slow mode counts from it)

    def version_string(self) -> str:
        """The Server header: say plainly that this is not the real service."""
        return "LicenseCompanionReceiver"

    def parse_request(self) -> bool:
        # Called as soon as the request line has been read, before the headers are parsed.
        self.arrived = time.monotonic()
        return super().parse_request()

    def do_POST(self) -> None:
        """Every method goes to the owner, which answers 405 where the spec says POST."""
        self.server.owner._handle(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record is the log."""


class Receiver:
    """Common part of both receivers: serving, recording, scripting, slow mode, shutdown.

    Args:
        host: address to bind; 127.0.0.1 by default so nothing outside the machine sees it.
        port: 0 picks a free port.
        record: append every request as a JSON line to this file.
        shutdown_timeout: most seconds ``close()`` waits for handlers still running.

    Attributes:
        on_request: called with each record once its handling is over (from the handler's
            thread); ``run_receiver`` prints the live line from it.
    """

    kind = ""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record: Path | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self._address = (host, port)
        self._record_path = record
        if record is not None:
            private_file(record)  # it holds the requests' bodies, keys included: 0600
        self._shutdown_timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._script: collections.deque[Behaviour] = collections.deque()
        self._slow = 0.0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[threading.Thread] = set()
        self.on_request: Callable[[RecordedRequest], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a daemon thread; returns once the port is known."""
        if self._server is not None:
            raise RuntimeError("the receiver is already running")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{self.kind}-receiver",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving; waits at most ``shutdown_timeout`` even while a Hang is in progress."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes Hang and slow mode
        server.shutdown()
        server.server_close()
        deadline = time.monotonic() + self._shutdown_timeout
        for worker in [thread, *self._handler_threads()]:
            if worker is not None:
                worker.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler_threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._handlers)

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (IPv6 hosts bracketed)."""
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        host = str(self._server.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL to configure in the companion."""
        return self.base_url

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours; each following request consumes one before normal handling."""
        with self._lock:
            self._script.extend(behaviours)

    def pending_script(self) -> list[Behaviour]:
        """Behaviours not consumed yet."""
        with self._lock:
            return list(self._script)

    @property
    def slow(self) -> float:
        """The latency of every answer in seconds, counted from the request's arrival (0 = off).

        An answer leaves ``slow`` seconds after its request started being handled, the
        receiver's own work included, or as soon as that work is done if it took longer.
        """
        with self._lock:
            return self._slow

    @slow.setter
    def slow(self, seconds: float) -> None:
        with self._lock:
            self._slow = max(0.0, float(seconds))

    # -- records -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget recorded requests and any unconsumed script."""
        with self._lock:
            self._requests.clear()
            self._script.clear()

    def wait_for_requests(
        self, count: int, timeout: float = 10.0, *, finished: bool = True
    ) -> bool:
        """Block until ``count`` requests have been handled (or only received); False on timeout.

        For tests of asynchronous senders: wait for the fact, never sleep for a guess.

        Args:
            finished: count only requests whose handling is over; False counts every request
                received, e.g. to know a ``Hang`` has begun.
        """
        def done() -> bool:
            return sum(1 for r in self._requests if r.outcome != "pending" or not finished) >= count

        with self._changed:
            return self._changed.wait_for(done, timeout)

    # -- the request path --------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        current = threading.current_thread()
        with self._lock:
            self._handlers.add(current)
        try:
            self._handle_request(handler)
        finally:
            with self._lock:
                self._handlers.discard(current)

    def _handle_request(self, handler: _Handler) -> None:
        arrived = handler.arrived or time.monotonic()  # slow mode's latency counts from here
        split = urlsplit(handler.path)
        length_text = handler.headers.get("Content-Length")
        body = b""
        too_big = False
        if length_text is not None:
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if length < 0:
                handler.send_error(400, "bad Content-Length")
                return
            if length > MAX_BODY_BYTES:
                too_big = True
            else:
                body = handler.rfile.read(length)
        rec = RecordedRequest(
            time=time.time(),
            method=handler.command,
            path=split.path,
            query=split.query,
            headers=list(handler.headers.items()),
            body=body,
        )
        with self._changed:
            self._requests.append(rec)
            behaviour = self._script.popleft() if self._script else None
            self._changed.notify_all()
        rec.behaviour = behaviour
        try:
            reply = self._apply(behaviour, rec, handler, too_big)
            if reply is not None:
                headers = self._start_answer(handler, reply)
                self._delay(arrived)
                self._send(handler, rec, reply, headers)
        except _Stopped:
            rec.outcome = "hung"
            handler.close_connection = True
        finally:
            self._finish(rec)

    def _apply(
        self, behaviour: Behaviour | None, rec: RecordedRequest, handler: _Handler, too_big: bool
    ) -> Reply | None:
        if isinstance(behaviour, Respond):
            return Reply(behaviour.status, behaviour.body, "", dict(behaviour.headers))
        if isinstance(behaviour, Hang):
            self._stopping.wait(behaviour.seconds)
            rec.outcome = "hung"
            handler.close_connection = True
            return None
        if isinstance(behaviour, Drop):
            if behaviour.reset:
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            rec.outcome = "dropped"
            handler.close_connection = True
            return None
        if isinstance(behaviour, Html):
            return Reply(behaviour.status, CAPTIVE_PORTAL_PAGE, "text/html; charset=utf-8")
        if isinstance(behaviour, TooLarge) or too_big:
            return Reply(413, NGINX_413_PAGE, "text/html")
        if isinstance(behaviour, RetryAfter):
            return self._retry_after_reply(behaviour)
        return self.handle_request(rec, behaviour)

    def _retry_after_reply(self, behaviour: RetryAfter) -> Reply:
        text = "Too Many Attempts." if behaviour.status == 429 else "Service Unavailable"
        return Reply(
            behaviour.status,
            json.dumps({"message": text}).encode("utf-8"),
            headers={"Retry-After": str(int(behaviour.seconds))},
        )

    def _delay(self, arrived: float) -> None:
        """Slow mode: answer ``slow`` seconds after the request arrived (``time.monotonic``).

        The receiver's own work (validating, signing) is inside that time when it fits, as a
        server with that latency would answer; only work longer than ``slow`` makes it later.
        """
        seconds = self.slow
        if seconds <= 0:
            return
        left = arrived + seconds - time.monotonic()
        if left > 0 and self._stopping.wait(left):
            raise _Stopped

    def _start_answer(self, handler: _Handler, reply: Reply) -> dict[str, str]:
        """Put the status line and headers in the handler's buffer (nothing is written yet).

        Done before slow mode's wait, so that the whole answer is ready when it ends and the
        latency holds the receiver's own work, as it would on a server with that latency.
        """
        headers = dict(reply.headers)
        if reply.content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = reply.content_type
        headers.setdefault("Content-Length", str(len(reply.body)))
        handler.send_response(reply.status)
        for key, value in headers.items():
            handler.send_header(key, value)
        return headers

    def _send(self, handler: _Handler, rec: RecordedRequest, reply: Reply,
              headers: dict[str, str]) -> None:
        # Filled in before writing: the client may read the answer and inspect the record
        # before this thread returns.
        rec.status = reply.status
        rec.response_headers = list(headers.items())
        rec.response_body = reply.body
        rec.outcome = "answered"
        try:
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
        except OSError:
            rec.outcome = "client-gone"  # the client gave up (its timeout) before we answered

    def _finish(self, rec: RecordedRequest) -> None:
        if rec.outcome == "pending":
            rec.outcome = "hung"
        if self._record_path is not None:
            line = json.dumps(rec.to_dict(), ensure_ascii=False, default=str)
            with self._lock:
                _append_private(self._record_path, line + "\n")
        listener = self.on_request
        try:
            if listener is not None:
                listener(rec)  # before the waiters wake: once counted, a request has been shown
        finally:
            with self._changed:
                self._changed.notify_all()

    def handle_request(self, rec: RecordedRequest, behaviour: Behaviour | None) -> Reply:
        """Validate and answer one request; subclasses implement the spec."""
        raise NotImplementedError

    def event_names(self, rec: RecordedRequest) -> list[str]:
        """The events (or operation) a request carried, for the live line; subclasses know."""
        return []

    def verdict(self, rec: RecordedRequest) -> str:
        """What the receiver made of a request, in a few words, for the live line.

        Scripted faults and unanswered requests are said as such; otherwise the subclass
        describes the spec's outcome (``spec_verdict``).
        """
        if rec.outcome in ("hung", "dropped", "client-gone"):
            return rec.outcome if rec.behaviour is None else f"{rec.outcome} (scripted)"
        if isinstance(rec.behaviour, _FAULTS):
            return f"scripted {type(rec.behaviour).__name__}"
        if rec.status == 413 and rec.validation is None:
            return "refused: body over the size limit"
        return self.spec_verdict(rec)

    def spec_verdict(self, rec: RecordedRequest) -> str:
        """The outcome of normal handling; subclasses describe it in the spec's terms."""
        if rec.validation is None or rec.validation.ok:
            return "accepted" if rec.stored else "answered"
        return "refused: " + first_error(rec)

    def banner(self) -> str:
        """The one line ``run_receiver`` prints."""
        return f"{self.kind} receiver listening on {self.url}"


def first_error(rec: RecordedRequest) -> str:
    """``field: message`` of the first validation error, or "" when there is none."""
    if rec.validation is None:
        return ""
    for key, messages in rec.validation.errors.items():
        return f"{key}: {messages[0]}" if messages else key
    return ""


def _append_private(path: Path, text: str) -> None:
    """Append to a record file readable by this user only (0600, a new folder 0700): it holds keys."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
