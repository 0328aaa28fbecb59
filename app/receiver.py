"""The offline test receiver: a local KeyManager or TelemetryDeck that checks every request.

Vendors run it (``license-companion receiver keymanager|telemetrydeck``) to see exactly what the
companion sends before pointing it at the real service; our own tests run it in-process. It is
deliberately strict — it validates "to the letter" of the two specs
(shared/specs/000_2230c95a571875f4.txt and shared/specs/003_af183a03e6c6f914.txt), so a request
that passes here is one the real services have no reason to refuse.

Pure stdlib ``http.server`` plus ``cryptography`` for the KeyManager signature (via
``app.backends.signature``): no Qt, nothing done at import time.

Failure scripting: ``rx.script(Hang(3), Respond(500))`` queues behaviours that the next requests
consume, one each, before normal handling; ``rx.slow = 2.0`` delays every answer. Every request is
recorded (``rx.requests``) and optionally appended as JSON lines to a file.

Strictness choices the specs leave open, stated here once:

* KeyManager: ``Accept: application/json`` is required (406 otherwise); bodies may be form-encoded
  or JSON (the server is Laravel-style and takes both; the record says which); an empty field
  counts as missing (Laravel converts empty strings to null); extra fields are ignored but noted.
  A missing or (when configured) unknown ``api_key`` is HTTP 401 with code 100.
* TelemetryDeck: ``Content-Type`` must be ``application/json`` with ``charset=utf-8`` (415
  otherwise, configurable); unknown top-level keys, nested payload values, reserved payload keys,
  duplicate JSON keys and NaN/Infinity are all 400. ``receivedAt`` is tolerated as a top-level
  ISO-8601 string: the spec only forbids it inside the payload, and the official SDKs send it.
"""

from __future__ import annotations

import base64
import collections
import datetime as _dt
import json
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.backends.signature import sign_envelope

KEYMANAGER = "keymanager"
TELEMETRYDECK = "telemetrydeck"

TELEMETRY_PATH = "/api/v1/send-telemetry-data"
VERIFY_PATH = "/api/v1/verify"
ACTIVATE_PATH = "/api/v1/activate"
DEACTIVATE_PATH = "/api/v1/deactivate"
TD_DEFAULT_PATH = "/v2/"

DATA_TYPES = ("numeric-single-value", "numeric-xy-axis", "text")
TD_MAX_SIGNALS = 100
TD_RESERVED_PAYLOAD_KEYS = frozenset(
    {"count", "type", "appID", "clientUser", "__time", "payload", "platform", "receivedAt"}
)
TD_REQUIRED = ("appID", "clientUser", "type")
TD_OPTIONAL = ("sessionID", "isTestMode", "payload", "receivedAt")
UNSIGNED_TEXT = "Private key not set"
MAX_BODY_BYTES = 10 * 1024 * 1024

# PHP's is_numeric (what Laravel's "numeric" rule uses): optional surrounding whitespace, sign,
# digits with an optional fraction, optional exponent. No hex, no NaN/INF.
_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")

_CAPTIVE_PORTAL = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome to Guest Wi-Fi</h1><p>Please accept the terms to continue.</p>"
    b"<form method=\"post\"><button>Accept</button></form></body></html>\n"
)
_NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


# --------------------------------------------------------------------------------------------
# Scripted behaviours
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Respond:
    """Answer with exactly this status, body and headers (no validation, nothing stored)."""

    status: int = 500
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """Read the request, wait ``seconds`` (cut short by shutdown), then close without answering.

    Lets tests prove the client's read timeout fires and the GUI stays responsive meanwhile.
    """

    seconds: float = 30.0


@dataclass(frozen=True)
class Drop:
    """Close the connection without any response; ``reset`` sends a TCP RST instead of a FIN."""

    reset: bool = False


@dataclass(frozen=True)
class Html:
    """Answer with a captive-portal HTML page, as hotel Wi-Fi and proxies do."""

    status: int = 200


@dataclass(frozen=True)
class BadSignature:
    """KeyManager: handle normally (the data is stored) but corrupt the envelope's signature.

    Stands for a man in the middle or a wrong public key. On TelemetryDeck (no signatures) it
    is consumed and the request handled normally.
    """


@dataclass(frozen=True)
class Unsigned:
    """KeyManager: handle normally, signature text ``Private key not set`` (instance signs nothing).

    On TelemetryDeck it is consumed and the request handled normally.
    """


@dataclass(frozen=True)
class TooLarge:
    """Answer 413 as a fronting nginx would, whatever the body was (nothing stored)."""


@dataclass(frozen=True)
class RetryAfter:
    """Answer ``status`` (429 or 503) with ``Retry-After: seconds`` (nothing stored)."""

    status: int = 429
    seconds: int = 30


Behaviour = Respond | Hang | Drop | Html | BadSignature | Unsigned | TooLarge | RetryAfter


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class Validation:
    """The verdict on one request's content.

    Attributes:
        ok: the request is exactly what the spec asks for.
        errors: field (or ``signal[i].key``) -> messages; Laravel-style for KeyManager.
        notes: things that are allowed but worth seeing (extra fields, JSON encoding...).
    """

    ok: bool = True
    errors: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        """Record one problem; the request is then no longer ok."""
        self.ok = False
        self.errors.setdefault(key, []).append(message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the record file."""
        return {"ok": self.ok, "errors": self.errors, "notes": self.notes}


@dataclass
class RecordedRequest:
    """One request as received and what the receiver did with it.

    Filled in while the request is handled; read it after the client got its answer.

    Attributes:
        encoding: "form", "json" or None (body not parsed).
        form: the parsed body (KeyManager: field -> value, last one wins; TelemetryDeck: the
            decoded JSON).
        behaviour: the scripted behaviour that handled it, if any.
        outcome: "answered", "dropped" or "hung".
        stored: the receiver kept the data (as the real service would have).
        code: the KeyManager ``response.code`` sent, if any.
    """

    time: float
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    encoding: str | None = None
    form: Any = None
    validation: Validation | None = None
    behaviour: Behaviour | None = None
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    outcome: str = "pending"
    stored: bool = False
    code: int | None = None

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def response_json(self) -> Any:
        """The response body as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.response_body.decode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for ``--record``; bodies as text when UTF-8, else base64."""
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            **_body_fields("body", self.body),
            "encoding": self.encoding,
            "form": self.form,
            "validation": self.validation.to_dict() if self.validation else None,
            "behaviour": repr(self.behaviour) if self.behaviour is not None else None,
            "outcome": self.outcome,
            "stored": self.stored,
            "status": self.status,
            "code": self.code,
            "response_headers": self.response_headers,
            **_body_fields("response_body", self.response_body),
        }


def _body_fields(name: str, data: bytes) -> dict[str, str]:
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(data).decode("ascii")}


@dataclass
class Reply:
    """What a handler decided to send back."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class License:
    """One license in the KeyManager receiver's in-memory table.

    Attributes:
        max_activations: how many identifiers may be active at once.
        expired: verify/activate answer 205.
        activations: identifiers currently active (mutated by activate/deactivate).
    """

    max_activations: int = 1
    expired: bool = False
    activations: set[str] = field(default_factory=set)


class _Stopped(Exception):
    """The receiver is shutting down while a request waits."""


# --------------------------------------------------------------------------------------------
# The shared server machinery
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a Hang must never keep the process alive
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: _Receiver) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: Hang/Drop stay unambiguous
    timeout = 30  # a client that stops sending mid-body cannot hold a thread forever

    def version_string(self) -> str:
        """The Server header: say plainly that this is not the real service."""
        return "LicenseCompanionReceiver"

    def do_POST(self) -> None:
        """Every method goes to the owner, which answers 405 where the spec says POST."""
        self.server.owner._handle(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the record is the log."""


class _Receiver:
    """Common part of both receivers: serving, recording, scripting, slow mode, shutdown.

    Args:
        host: address to bind; 127.0.0.1 by default so nothing outside the machine sees it.
        port: 0 picks a free port.
        record: append every request as a JSON line to this file.
        shutdown_timeout: most seconds ``close()`` waits for handlers still running.
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

    def __enter__(self) -> _Receiver:
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
        """Seconds every answer is delayed by (0 = off)."""
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
                self._delay()
                self._send(handler, rec, reply)
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
            return Reply(behaviour.status, _CAPTIVE_PORTAL, "text/html; charset=utf-8")
        if isinstance(behaviour, TooLarge) or too_big:
            return Reply(413, _NGINX_413, "text/html")
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

    def _delay(self) -> None:
        seconds = self.slow
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped

    def _send(self, handler: _Handler, rec: RecordedRequest, reply: Reply) -> None:
        headers = dict(reply.headers)
        if reply.content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = reply.content_type
        headers.setdefault("Content-Length", str(len(reply.body)))
        # Filled in before writing: the client may read the answer and inspect the record
        # before this thread returns.
        rec.status = reply.status
        rec.response_headers = list(headers.items())
        rec.response_body = reply.body
        rec.outcome = "answered"
        try:
            handler.send_response(reply.status)
            for key, value in headers.items():
                handler.send_header(key, value)
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
            with self._lock, self._record_path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        with self._changed:
            self._changed.notify_all()

    def handle_request(self, rec: RecordedRequest, behaviour: Behaviour | None) -> Reply:
        """Validate and answer one request; subclasses implement the spec."""
        raise NotImplementedError

    def banner(self) -> str:
        """The one line ``run_receiver`` prints."""
        return f"{self.kind} receiver listening on {self.url}"


# --------------------------------------------------------------------------------------------
# KeyManager
# --------------------------------------------------------------------------------------------


def _human(name: str) -> str:
    return name.replace("_", " ")


def _required(name: str) -> str:
    return f"The {_human(name)} field is required."


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 test key (the documentation's own key is 2048-bit)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    """The PEM (SubjectPublicKeyInfo) a vendor would paste into ``[keymanager] public_key``."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def make_envelope(
    response: Mapping[str, Any],
    private_key: rsa.RSAPrivateKey,
    *,
    private_key_used: str = "product",
    signature: str | None = None,
) -> dict[str, Any]:
    """The signed envelope a KeyManager server answers with.

    ``response_base64`` is the compact JSON of ``response`` (ASCII-escaped, as PHP's
    json_encode does) and the signature is over that base64 text, per the facts note.

    Args:
        signature: override the signature text (for ``Unsigned``/``BadSignature``).
    """
    encoded = base64.b64encode(
        json.dumps(response, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    ).decode("ascii")
    return {
        "response": dict(response),
        "response_base64": encoded,
        "private_key_used": private_key_used,
        "signature": signature if signature is not None else sign_envelope(encoded, private_key),
    }


def _corrupt(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


class KeyManagerReceiver(_Receiver):
    """A local KeyManager: the telemetry endpoint and verify/activate/deactivate.

    Args:
        host: address to bind (127.0.0.1).
        port: 0 picks a free port.
        api_key: when given, any other ``api_key`` is HTTP 401 code 100; when None any non-empty
            key is accepted (a missing one is still 401 code 100).
        private_key: the RSA key that signs answers; a fresh 2048-bit one when None (tests pass
            one in: generating a key costs ~0.1 s).
        private_key_used: the envelope's ``private_key_used`` ("product" or "global").
        product_ids: when given, other ``product_id`` values get "The selected product id is
            invalid." (831, as in the spec's example).
        licenses: license key -> ``License``; the table verify/activate/deactivate use.
        check_license_keys: telemetry with a ``license_key`` not in ``licenses`` is flagged
            831 "The selected license key is invalid." (the spec's "red flag" for pirated copies).
        record: append every request as a JSON line to this file.
        shutdown_timeout: most seconds ``close()`` waits.
    """

    kind = KEYMANAGER

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        private_key: rsa.RSAPrivateKey | None = None,
        private_key_used: str = "product",
        product_ids: Collection[str] | None = None,
        licenses: Mapping[str, License] | None = None,
        check_license_keys: bool = False,
        record: Path | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        super().__init__(host, port, record=record, shutdown_timeout=shutdown_timeout)
        self.api_key = api_key
        self.private_key = private_key if private_key is not None else generate_private_key()
        self.private_key_used = private_key_used
        self.product_ids = set(product_ids) if product_ids is not None else None
        self.licenses: dict[str, License] = dict(licenses or {})
        self.check_license_keys = check_license_keys
        self.clock: Callable[[], float] = time.time

    def __enter__(self) -> KeyManagerReceiver:
        self.start()
        return self

    @property
    def public_key_pem(self) -> bytes:
        """The public half of the signing key, PEM."""
        return public_key_pem(self.private_key)

    @property
    def telemetry_url(self) -> str:
        """The full telemetry endpoint URL."""
        return self.base_url + TELEMETRY_PATH

    def accepted_events(self) -> list[dict[str, str]]:
        """Telemetry events saved as correct (830), as field -> value, oldest first."""
        return self._events_with(830)

    def flagged_events(self) -> list[dict[str, str]]:
        """Telemetry events saved but flagged (831)."""
        return self._events_with(831)

    def _events_with(self, code: int) -> list[dict[str, str]]:
        return [
            dict(r.form)
            for r in self.requests
            if r.path == TELEMETRY_PATH and r.stored and r.code == code
        ]

    def add_license(self, key: str, max_activations: int = 1, *, expired: bool = False) -> None:
        """Put a license in the table (thread-safe)."""
        with self._lock:
            self.licenses[key] = License(max_activations, expired)

    # -- handling ----------------------------------------------------------------------------

    def handle_request(self, rec: RecordedRequest, behaviour: Behaviour | None) -> Reply:
        """Route, check headers and encoding, authenticate, then answer with an envelope."""
        routes = {
            TELEMETRY_PATH: self._telemetry,
            VERIFY_PATH: self._verify,
            ACTIVATE_PATH: self._activate,
            DEACTIVATE_PATH: self._deactivate,
        }
        route = routes.get(rec.path)
        if route is None:
            return Reply(404, json.dumps({"message": "Not Found"}).encode())
        if rec.method != "POST":
            message = f"The {rec.method} method is not supported for route {rec.path[1:]}."
            return Reply(405, json.dumps({"message": message}).encode(), headers={"Allow": "POST"})
        validation = rec.validation = Validation()
        accept = (rec.header("Accept") or "").lower()
        if "application/json" not in accept:
            validation.add("Accept", "The Accept header must be application/json.")
            return Reply(406, b"Accept: application/json is required\n", "text/plain")
        fields = self._parse(rec)
        if fields is None:
            return Reply(415, b"the body must be form-encoded or a JSON object\n", "text/plain")
        api_key = fields.get("api_key", "")
        if not api_key or (self.api_key is not None and api_key != self.api_key):
            validation.add("api_key", "Invalid API key.")
            return self._envelope(rec, behaviour, 401, 100, "Invalid API key", errors=[])
        return route(rec, fields, behaviour)

    def _parse(self, rec: RecordedRequest) -> dict[str, str] | None:
        """Form or JSON body -> field values (last duplicate wins, as PHP does)."""
        assert rec.validation is not None
        ctype = (rec.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            try:
                pairs = parse_qsl(
                    rec.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(rec.body)
                )
            except (UnicodeDecodeError, ValueError) as exc:
                rec.validation.add("body", f"not valid form encoding: {exc}")
                return None
            rec.encoding = "form"
            names = [name for name, _ in pairs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                rec.validation.notes.append(f"duplicate fields (last one used): {dupes}")
            fields = dict(pairs)
        elif ctype == "application/json":
            try:
                data = json.loads(rec.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                rec.validation.add("body", f"not valid JSON: {exc}")
                return None
            if not isinstance(data, dict):
                rec.validation.add("body", "the JSON body must be an object")
                return None
            rec.encoding = "json"
            rec.validation.notes.append("JSON body (the spec documents form fields)")
            fields = {}
            for name, value in data.items():
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    rec.validation.add(name, f"The {_human(name)} field must be a string.")
                    fields[name] = ""
                else:
                    fields[name] = value if isinstance(value, str) else json.dumps(value)
        else:
            rec.validation.add("Content-Type", f"unsupported Content-Type {ctype!r}")
            return None
        rec.form = fields
        return fields

    def _envelope(
        self,
        rec: RecordedRequest,
        behaviour: Behaviour | None,
        status: int,
        code: int,
        message: str,
        **extra: Any,
    ) -> Reply:
        response = {"code": code, "message": message, **extra, "timestamp": int(self.clock())}
        signature: str | None = None
        if isinstance(behaviour, Unsigned):
            signature = UNSIGNED_TEXT
        envelope = make_envelope(
            response,
            self.private_key,
            private_key_used=self.private_key_used,
            signature=signature,
        )
        if isinstance(behaviour, BadSignature):
            envelope["signature"] = _corrupt(envelope["signature"])
        rec.code = code
        return Reply(status, json.dumps(envelope).encode("utf-8"))

    def validate_telemetry(self, fields: Mapping[str, str], validation: Validation) -> None:
        """Apply the spec's parameter table to the fields, Laravel-style messages.

        Error order follows the spec's 831 example (product_id first, data_group last).
        """
        def present(name: str) -> bool:
            return fields.get(name, "").strip() != ""

        product_id = fields.get("product_id", "")
        if not present("product_id"):
            validation.add("product_id", _required("product_id"))
        elif self.product_ids is not None and product_id not in self.product_ids:
            validation.add("product_id", "The selected product id is invalid.")
        for name in ("user_identifier", "license_key", "activation_identifier",
                     "product_version"):
            if not present(name):
                validation.add(name, _required(name))
        license_key = fields.get("license_key", "")
        if present("license_key") and self.check_license_keys:
            with self._lock:
                known = license_key in self.licenses
            if not known:
                validation.add("license_key", "The selected license key is invalid.")
        data_type = fields.get("data_type", "")
        if not present("data_type"):
            validation.add("data_type", _required("data_type"))
        elif data_type not in DATA_TYPES:
            validation.add("data_type", "The selected data type is invalid.")
        needed = {
            "numeric-single-value": ("numeric_data_single_value",),
            "numeric-xy-axis": ("numeric_data_x", "numeric_data_y"),
            "text": ("text_data",),
        }.get(data_type, ())
        for name in needed:
            if not present(name):
                validation.add(
                    name, f"The {_human(name)} field is required when data type is {data_type}."
                )
            elif name.startswith("numeric") and not _NUMERIC.match(fields[name]):
                validation.add(name, f"The {_human(name)} field must be a number.")
        if not present("data_group"):
            validation.add("data_group", _required("data_group"))
        known = {"api_key", "data_type", "product_id", "user_identifier", "license_key",
                 "activation_identifier", "product_version", "data_group", *needed}
        extra = sorted(set(fields) - known)
        if extra:
            validation.notes.append(f"fields the server ignores here: {extra}")

    def _telemetry(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        assert rec.validation is not None
        self.validate_telemetry(fields, rec.validation)
        rec.stored = True  # 830 and 831 are both "data saved"
        if rec.validation.ok:
            return self._envelope(rec, behaviour, 200, 830, "Correct format data saved",
                                  errors=[])
        return self._envelope(rec, behaviour, 200, 831, "Incorrect format data saved",
                              errors=rec.validation.errors)

    def _license_args(
        self, rec: RecordedRequest, fields: Mapping[str, str], behaviour: Behaviour | None
    ) -> tuple[License | None, str, Reply | None]:
        """The license and identifier, or the 215/210 answer when one is missing or unknown."""
        assert rec.validation is not None
        identifier = fields.get("identifier", "").strip()
        key = fields.get("license_key", "").strip()
        if not identifier:
            rec.validation.add("identifier", _required("identifier"))
            return None, "", self._envelope(rec, behaviour, 200, 215, "Identifier is required")
        with self._lock:
            lic = self.licenses.get(key)
        if lic is None:
            rec.validation.add("license_key", "Invalid license key.")
            return None, "", self._envelope(rec, behaviour, 200, 210, "Invalid license key")
        return lic, identifier, None

    def _verify(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        lic, identifier, early = self._license_args(rec, fields, behaviour)
        if early is not None or lic is None:
            return early or Reply(500)
        with self._lock:
            expired, active = lic.expired, identifier in lic.activations
        if expired:
            return self._envelope(rec, behaviour, 200, 205, "License key expired")
        if not active:
            return self._envelope(rec, behaviour, 200, 202,
                                  "No activation found for this license key and identifier")
        return self._envelope(rec, behaviour, 200, 200, "License key is valid")

    def _activate(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        lic, identifier, early = self._license_args(rec, fields, behaviour)
        if early is not None or lic is None:
            return early or Reply(500)
        with self._lock:
            if lic.expired:
                outcome = (205, "License key expired")
            elif identifier in lic.activations:
                outcome = (301, "License key already active for this identifier")
            elif len(lic.activations) >= lic.max_activations:
                outcome = (302, "Activation limit reached")
            else:
                lic.activations.add(identifier)
                rec.stored = True
                outcome = (300, "License key activated")
        return self._envelope(rec, behaviour, 200, *outcome)

    def _deactivate(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        lic, identifier, early = self._license_args(rec, fields, behaviour)
        if early is not None or lic is None:
            return early or Reply(500)
        with self._lock:
            if identifier in lic.activations:
                lic.activations.discard(identifier)
                rec.stored = True
                outcome = (400, "License key deactivated")
            else:
                outcome = (401, "License key already inactive for this identifier")
        return self._envelope(rec, behaviour, 200, *outcome)


# --------------------------------------------------------------------------------------------
# TelemetryDeck
# --------------------------------------------------------------------------------------------


def _strict_json(raw: bytes) -> Any:
    """JSON as a strict server reads it: UTF-8, no duplicate keys, no NaN/Infinity."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):
        raise ValueError("a byte order mark is not allowed in JSON")
    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def _is_iso8601(value: str) -> bool:
    try:
        _dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value or " " in value


class TelemetryDeckReceiver(_Receiver):
    """A local TelemetryDeck ingest endpoint (v2).

    Args:
        host: address to bind (127.0.0.1).
        port: 0 picks a free port.
        path: the ingest path (``/v2/``).
        app_ids: when given, signals for other ``appID`` values are refused with ``app_id_status``.
        app_id_status: 401 or 403 for an appID outside ``app_ids``.
        max_signals: more signals than this in one POST is 413 (the spec's 100; lower it to
            make tests split batches).
        require_charset: insist on ``charset=utf-8`` in Content-Type, as the spec's text does.
        record: append every request as a JSON line to this file.
        shutdown_timeout: most seconds ``close()`` waits.
    """

    kind = TELEMETRYDECK

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = TD_DEFAULT_PATH,
        app_ids: Collection[str] | None = None,
        app_id_status: int = 403,
        max_signals: int = TD_MAX_SIGNALS,
        require_charset: bool = True,
        record: Path | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        super().__init__(host, port, record=record, shutdown_timeout=shutdown_timeout)
        self.path = path
        self.app_ids = set(app_ids) if app_ids is not None else None
        self.app_id_status = app_id_status
        self.max_signals = max_signals
        self.require_charset = require_charset

    def __enter__(self) -> TelemetryDeckReceiver:
        self.start()
        return self

    @property
    def url(self) -> str:
        """The full ingest URL (what ``[telemetrydeck] url`` takes)."""
        return self.base_url + self.path

    def accepted_events(self) -> list[dict[str, Any]]:
        """Every signal of every accepted (200) POST, oldest first."""
        events: list[dict[str, Any]] = []
        for rec in self.requests:
            if rec.stored and isinstance(rec.form, list):
                events.extend(rec.form)
        return events

    def handle_request(self, rec: RecordedRequest, behaviour: Behaviour | None) -> Reply:
        """Check path, method, Content-Type, size and every signal; 200 only when all pass."""
        if rec.path != self.path:
            return Reply(404, b"Not Found\n", "text/plain")
        if rec.method != "POST":
            return Reply(405, b"Method Not Allowed\n", "text/plain", {"Allow": "POST"})
        validation = rec.validation = Validation()
        ctype_ok, problem = self._content_type_ok(rec.header("Content-Type") or "")
        if not ctype_ok:
            validation.add("Content-Type", problem)
            return Reply(415, (problem + "\n").encode(), "text/plain")
        try:
            data = _strict_json(rec.body)
        except (UnicodeDecodeError, ValueError) as exc:
            validation.add("body", f"malformed JSON: {exc}")
            return self._bad(validation)
        rec.encoding = "json"
        rec.form = data
        if not isinstance(data, list):
            validation.add("body", "the body must be a JSON array of signal objects")
            return self._bad(validation)
        if not data:
            validation.add("body", "the array holds no signals")
            return self._bad(validation)
        if len(data) > self.max_signals:
            validation.add("body", f"{len(data)} signals; at most {self.max_signals} per request")
            return Reply(413, f"at most {self.max_signals} signals per request\n".encode(),
                         "text/plain")
        for index, signal in enumerate(data):
            self.validate_signal(index, signal, validation)
        if not validation.ok:
            return self._bad(validation)
        if self.app_ids is not None:
            foreign = sorted({s["appID"] for s in data} - self.app_ids)
            if foreign:
                validation.add("appID", f"unknown appID {foreign}")
                return Reply(self.app_id_status, b"unknown appID\n", "text/plain")
        rec.stored = True
        return Reply(200, json.dumps({"status": "ok", "accepted": len(data)}).encode())

    def _content_type_ok(self, header: str) -> tuple[bool, str]:
        parts = [p.strip() for p in header.split(";")]
        media = parts[0].lower()
        params = {}
        for part in parts[1:]:
            name, _, value = part.partition("=")
            params[name.strip().lower()] = value.strip().strip('"').lower()
        if media != "application/json":
            return False, f"Content-Type must be application/json, got {header!r}"
        charset = params.get("charset")
        if charset is None and self.require_charset:
            return False, "Content-Type must say charset=utf-8"
        if charset is not None and charset not in ("utf-8", "utf8"):
            return False, f"charset must be utf-8, got {charset!r}"
        return True, ""

    @staticmethod
    def _bad(validation: Validation) -> Reply:
        lines = [f"{key}: {msg}" for key, msgs in validation.errors.items() for msg in msgs]
        return Reply(400, ("\n".join(lines) + "\n").encode("utf-8"), "text/plain; charset=utf-8")

    def validate_signal(self, index: int, signal: Any, validation: Validation) -> None:
        """One signal object against the spec's tables; errors keyed ``signal[i].name``."""
        where = f"signal[{index}]"
        if not isinstance(signal, dict):
            validation.add(where, "each signal must be a JSON object")
            return
        for name in TD_REQUIRED:
            value = signal.get(name)
            if name not in signal:
                validation.add(f"{where}.{name}", "required")
            elif not isinstance(value, str) or not value:
                validation.add(f"{where}.{name}", "must be a non-empty string")
        unknown = sorted(set(signal) - set(TD_REQUIRED) - set(TD_OPTIONAL))
        for name in unknown:
            validation.add(f"{where}.{name}", "unknown property")
        if "sessionID" in signal and not isinstance(signal["sessionID"], str):
            validation.add(f"{where}.sessionID", "must be a string")
        if "isTestMode" in signal and not isinstance(signal["isTestMode"], bool):
            validation.add(f"{where}.isTestMode", "must be a boolean")
        if "receivedAt" in signal:
            value = signal["receivedAt"]
            if not isinstance(value, str) or not _is_iso8601(value):
                validation.add(f"{where}.receivedAt", "must be an ISO-8601 date-time string")
            else:
                validation.notes.append(f"{where}: top-level receivedAt (SDK practice)")
        if "payload" in signal:
            self._validate_payload(where, signal["payload"], validation)

    @staticmethod
    def _validate_payload(where: str, payload: Any, validation: Validation) -> None:
        if not isinstance(payload, dict):
            validation.add(f"{where}.payload", "must be a JSON object")
            return
        for key, value in payload.items():
            here = f"{where}.payload.{key}"
            if key in TD_RESERVED_PAYLOAD_KEYS:
                validation.add(here, "reserved key")
            if isinstance(value, dict | list):
                validation.add(here, "must be a primitive (no nested objects or arrays)")
            elif key == "floatValue" and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                validation.add(here, "floatValue must be a JSON number")


# --------------------------------------------------------------------------------------------
# Command line entry
# --------------------------------------------------------------------------------------------


def make_receiver(
    kind: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    record: Path | None = None,
    licenses: Mapping[str, License] | None = None,
) -> KeyManagerReceiver | TelemetryDeckReceiver:
    """The receiver for ``kind``; for TelemetryDeck ``api_key`` is the allowed appID."""
    if kind == KEYMANAGER:
        return KeyManagerReceiver(host, port, api_key=api_key, licenses=licenses, record=record)
    if kind == TELEMETRYDECK:
        return TelemetryDeckReceiver(
            host, port, app_ids=[api_key] if api_key else None, record=record
        )
    raise ValueError(f"unknown receiver kind {kind!r}; use {KEYMANAGER} or {TELEMETRYDECK}")


def run_receiver(
    kind: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    public_key_out: Path | None = None,
    record: Path | None = None,
    licenses: Mapping[str, License] | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve until Ctrl-C (or ``stop`` is set); print one line saying where.

    For KeyManager the public key PEM is written to ``public_key_out`` (a fresh temporary file
    when None) so the vendor can configure signature checking against it.

    Args:
        kind: "keymanager" or "telemetrydeck".
        api_key: KeyManager: the only API key accepted; TelemetryDeck: the only appID accepted.
        record: append every request as a JSON line here (it holds keys exactly as sent).
        licenses: KeyManager's license table for verify/activate/deactivate.
        stop: for tests and embedding: return when it is set.
        out: where the line goes (stdout).

    Returns:
        The process exit code (0).
    """
    out = out if out is not None else sys.stdout
    rx = make_receiver(kind, host, port, api_key=api_key, record=record, licenses=licenses)
    stop = stop if stop is not None else threading.Event()
    with rx:
        line = rx.banner()
        if isinstance(rx, KeyManagerReceiver):
            if public_key_out is None:
                public_key_out = Path(tempfile.mkdtemp(prefix="lc-receiver-")) / "public-key.pem"
            public_key_out.write_bytes(rx.public_key_pem)
            line += f" (public key: {public_key_out})"
        if record is not None:
            line += f" (recording to {record})"
        print(line, file=out, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


main_receiver = run_receiver


def iter_records(path: Path) -> Iterable[dict[str, Any]]:
    """Read back a ``--record`` file, one dict per request."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
