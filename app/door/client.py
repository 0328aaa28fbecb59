"""Talk to the License Companion from Python: standard library only, copy this one file.

    import client as c                      # or: import app.door.client as c
    c.configure(product="my-product-id")    # or LICENSE_COMPANION_PRODUCT in the environment
    c.track("App.started", value=1)
    c.license()["offline"]["counts_as_valid"]

Every call returns the companion's answer as a plain dict and raises ``ClientError`` (with a
stable ``code``) when it cannot be served. One persistent connection per ``Client``, reopened
after a failure; connecting gives up after ``connect_timeout`` (0.5 s by default), so a host
never waits long for a companion that is not there. Safe to call from several threads.

Where the companion is, without asking it: the socket is
``$XDG_RUNTIME_DIR/license-companion-<product>/host.sock`` (without ``XDG_RUNTIME_DIR``:
``/tmp/license-companion-<uid>/license-companion-<product>/host.sock``), or
``LICENSE_COMPANION_HOST_SOCKET``. When nothing answers there, ``track``/``track_batch`` append
the events to the companion's inbox (``<state dir>/inbox``, the state dir being
``LICENSE_COMPANION_HOME`` or the platform's user data directory ``license-companion``); the
companion ingests it when it starts and on every round. The answer then says
``"queued": "inbox"``. The protocol is described in docs/host-protocol.md.

Windows: the endpoint is the named pipe ``\\\\.\\pipe\\license-companion-<product>-<user SID>``
(or ``LICENSE_COMPANION_HOST_SOCKET``), the same lines in byte mode. Before sending anything the
client checks that the process serving the pipe runs as this user (its token's SID), else it
refuses with code ``untrusted_endpoint`` and events go to the inbox.

``nudge()`` tells a running companion, best effort and within 50 ms, that this process stored
something for it (``license-companion track`` uses it); it never raises.

Not waiting: ``Client(product, wait=False, on_error=callable)`` is the model of the C and Node
clients. ``track``/``track_batch`` write the line and return (``"queued": "socket"`` and the
``event_id``); answers are read, in order, inside every later call (no thread of its own: the
socket is non-blocking), so a refusal reaches ``on_error`` during a later call and is raised
by the next ``flush(timeout)``, which waits until every event sent so far is acknowledged as
stored. When the connection breaks, the events sent but not acknowledged go to the inbox with
their ids (stored at most once). At most ``max_pending`` requests are unanswered; beyond, a
call waits for answers. ``close()`` (also run at exit) waits up to 2 s, then moves the rest to
the inbox. Blocking stays the default: its answers say what was stored, which scripts and the
command line rely on.

Why one file of more than 400 lines: vendors copy exactly one file into their product, so the
Windows pipe code and the non-blocking mode live here too, each in a section of its own.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

PROTOCOL = 1
APP_ID = "license-companion"
SOCKET_ENV = "LICENSE_COMPANION_HOST_SOCKET"
HOME_ENV = "LICENSE_COMPANION_HOME"
PRODUCT_ENV = "LICENSE_COMPANION_PRODUCT"
INBOX_DIR = "inbox"
INBOX_SUFFIX = ".jsonl"
RETRY_CONNECT = 1.0  # seconds between connection attempts while the companion is away
NUDGE_TIMEOUT = 0.05  # seconds a nudge may spend connecting
MAX_ANSWER = 4 * 1024 * 1024  # bytes of one answer line; a longer one breaks the connection
UNTRUSTED = "untrusted_endpoint"
# Refusals that mean the event was not stored: ``track`` keeps it in the inbox instead.
FALLBACK_CODES = ("not_running", "connection", "transport_unavailable", UNTRUSTED,
                  "too_many_connections", "timeout", "storage")
# Answers after which the companion closes the connection.
CLOSING_CODES = ("too_many_connections", "timeout", "line_too_long")
MAX_PENDING = 200  # unanswered requests (not waiting) before a call waits for answers
CLOSE_WAIT = 2.0  # seconds ``close`` waits for answers (not waiting) before the inbox

log = logging.getLogger("license_companion.client")


def transport_problem() -> str:
    """Why this computer cannot reach a companion's endpoint at all ("" when it can)."""
    import socket  # here, as everywhere in this module: ``nudge`` with no companion needs none

    if sys.platform == "win32":
        return ""  # the named pipe (see pipe_name)
    if not hasattr(socket, "AF_UNIX"):
        return ("the host endpoint is a Unix domain socket, and this system has none (events "
                "go to the inbox)")
    return ""


class ClientError(Exception):
    """The request could not be served. ``code`` is the protocol's error code, or
    ``not_running`` (no companion and no fallback for this call), ``connection`` (the
    connection broke while waiting for the answer), ``transport_unavailable`` (no endpoint
    can exist on this system), or ``untrusted_endpoint`` (Windows: the pipe is served by a
    process of another user); ``field`` names the offending field."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field
        self.refused = 1  # from ``flush``: how many refusals since the last flush


def product_slug(product: str) -> str:
    """The product id as it appears in paths: lower case letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", product.lower()).strip("-")
    return slug or "default"


def socket_path(product: str, environ: dict[str, str] | None = None) -> Path:
    """Where the companion of ``product`` listens (it need not be running)."""
    env = os.environ if environ is None else environ
    if env.get(SOCKET_ENV):
        return Path(env[SOCKET_ENV])
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        base = Path(runtime)
    else:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        base = Path("/tmp" if sys.platform != "win32" else _temp_dir()) / \
            f"{APP_ID}-{uid}"  # noqa: S108 - a 0700 directory the server checks is ours
    return base / f"{APP_ID}-{product_slug(product)}" / "host.sock"


def _temp_dir() -> str:
    import tempfile  # Windows only

    return tempfile.gettempdir()


default_socket_path = socket_path  # the name ``Client``'s ``socket_path`` argument hides


def unix_endpoint_problem(path: Path) -> str:
    """Why the socket at ``path`` may be another user's (Unix; "" when it is safe to use).

    The socket's directory must be a real directory of this user that nobody else can write,
    and its parent this user's or root's, not writable by others unless sticky (``/tmp``), so
    no one else can swap the directory while the companion runs; a socket that is there must
    be this user's. Nothing there yet is no problem: connecting then fails as "not running".
    """
    import stat

    uid = os.getuid()
    directory = path.parent
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot check {directory}: {exc.strerror or exc}"
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        return f"{directory} is not a directory owned by this user (uid {uid})"
    if info.st_mode & 0o022:
        return f"{directory} can be written by other users (mode {oct(info.st_mode & 0o777)})"
    try:
        above = os.stat(directory.parent)
    except OSError as exc:
        return f"cannot check {directory.parent}: {exc.strerror or exc}"
    if above.st_uid not in (uid, 0):
        return f"{directory.parent} belongs to another user (uid {above.st_uid})"
    if above.st_mode & 0o022 and not above.st_mode & stat.S_ISVTX:
        return (f"{directory.parent} can be written by other users and is not sticky, so "
                f"{directory.name} could be swapped")
    try:
        sock_info = os.lstat(path)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot check {path}: {exc.strerror or exc}"
    if sock_info.st_uid != uid:
        return f"{path} belongs to another user (uid {sock_info.st_uid})"
    return ""


def unix_peer_problem(sock: socket.socket, path: Path) -> str:
    """Why the process serving a connected socket is not this user ("" when it is, or when the
    OS does not tell: Linux has ``SO_PEERCRED``; elsewhere the directory checks are the rule)."""
    import socket
    import struct

    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return ""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError as exc:
        return f"cannot ask who serves {path}: {exc.strerror or exc}"
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        return f"the process serving {path} runs as uid {uid}, not as this user"
    return ""


def endpoint_address(product: str, environ: dict[str, str] | None = None,
                     platform: str | None = None, user_sid: str | None = None) -> str:
    """The address hosts of ``product`` connect to: the socket's path, or on Windows the
    pipe's name (``platform`` and ``user_sid`` default to this system's)."""
    if (platform or sys.platform) == "win32":
        return pipe_name(product, environ, user_sid)
    return str(socket_path(product, environ))


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """The companion's state directory, computed as the companion does (no platformdirs)."""
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser().resolve()
    if sys.platform == "win32":
        root = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(root) / APP_ID
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_ID
    data = env.get("XDG_DATA_HOME", "").strip()
    base = Path(data).expanduser() if data and os.path.isabs(data) else \
        Path.home() / ".local" / "share"
    return base / APP_ID


def append_to_inbox(inbox: Path, lines: list[bytes], name: str) -> None:
    """Append complete lines to ``inbox/name`` durably, safe against the companion's claim.

    The companion claims a file by renaming it and then taking its lock, so a writer locks the
    file, checks the name still points at the file it opened (else it was claimed: open anew),
    writes, fsyncs, and unlocks.
    On Windows the file cannot be opened while the companion renames it: the open is retried.
    """
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = inbox / name
    data = b"".join(lines)
    for attempt in range(20):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                         getattr(os, "O_BINARY", 0), 0o600)  # binary: Windows would write \r\n
        except PermissionError:
            if sys.platform != "win32":
                raise
            # Windows: the companion is renaming this file to claim it (a sharing violation
            # for as long as the rename holds it open); the name is free again in a moment.
            time.sleep(0.002 * (attempt + 1))
            continue
        try:
            _lock(fd)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            return
        finally:
            os.close(fd)  # closing releases the lock
    raise ClientError("inbox", f"cannot append to {path}: it is claimed again and again")


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: a file open here cannot be renamed away, no lock needed
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _event(name: str, value: Any = None, xy: Any = None, text: Any = None,
           payload: dict[str, Any] | None = None, timestamp: float | None = None,
           session: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name}
    given = [(k, v) for k, v in (("value", value), ("xy", xy), ("text", text)) if v is not None]
    if len(given) != 1:
        raise ClientError("invalid_field", "give exactly one of value=, xy= or text=", "value")
    key, item = given[0]
    event[key] = list(item) if key == "xy" else item
    if payload:
        event["payload"] = payload
    if timestamp is not None:
        event["timestamp"] = timestamp
    if session:
        event["session"] = session
    return event


def _line(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class _Pending:
    """A request sent and not yet answered (not waiting): an event's line (its inbox line
    too: ``"op"`` may stay), a batch's events, or a query waiting for ``answer``."""

    __slots__ = ("answer", "batch", "line", "query")

    def __init__(self, line: bytes, batch: list[Any] | None, query: bool = False) -> None:
        self.line = line
        self.batch = batch
        self.query = query
        self.answer: dict[str, Any] | None = None


class Client:
    """One connection to the companion of ``product``.

    Args:
        product: the vendor's product id (default: ``LICENSE_COMPANION_PRODUCT``).
        socket_path: override the socket (default: derived from the product).
        inbox: override the fallback inbox directory (default: ``<state dir>/inbox``).
        connect_timeout: seconds to wait for the connection.
        timeout: seconds to wait for an answer.
        fallback: write events to the inbox when no companion answers.
        wait: ``track``/``track_batch`` wait for their answer (False: they do not; see the
            module's docstring).
        on_error: not waiting: called with each refusal (a ``ClientError``), on the thread of
            the call that read it; must return quickly.
        max_pending: not waiting: unanswered requests before a call waits for answers.
    """

    def __init__(self, product: str | None = None, *, socket_path: str | os.PathLike[str] |
                 None = None, inbox: str | os.PathLike[str] | None = None,
                 connect_timeout: float = 0.5, timeout: float = 30.0,
                 fallback: bool = True, wait: bool = True,
                 on_error: Callable[[ClientError], object] | None = None,
                 max_pending: int = MAX_PENDING) -> None:
        product = product or os.environ.get(PRODUCT_ENV, "")
        if not product and socket_path is None and not os.environ.get(SOCKET_ENV):
            raise ClientError("invalid_field", "the product id is needed to find the "
                              f"companion (Client(product=...) or {PRODUCT_ENV})", "product")
        self.address = str(socket_path) if socket_path else endpoint_address(product)
        self.socket_path = Path(self.address)
        self.inbox = Path(inbox) if inbox else state_dir() / INBOX_DIR
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.fallback = fallback
        self.pushes: deque[dict[str, Any]] = deque(maxlen=100)
        self._lock = threading.RLock()
        self._sock: socket.socket | _PipeSocket | None = None
        self._buffer = b""
        self._next_try = 0.0
        self._untrusted = ""  # why the endpoint was last refused ("" when it was not)
        self._inbox_name = f"{os.getpid()}-{os.urandom(6).hex()}{INBOX_SUFFIX}"
        self._id_prefix = f"p-{os.urandom(8).hex()}"
        self._counter = 0
        self.wait = wait
        self.on_error = on_error
        self.max_pending = max(1, max_pending)
        self._pending: deque[_Pending] = deque()  # sent, unanswered, in order (not waiting)
        self._out = bytearray()  # written but not yet taken by the socket (not waiting)
        self._refused: list[ClientError] = []  # since the last flush
        self._unsaved: list[bytes] = []  # inbox lines a failed inbox write kept
        if not wait:
            _not_waiting.add(self)

    # -- the operations -------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        """Protocol version, product and companion version, and the limits."""
        return self.request({"op": "hello", "protocol": PROTOCOL})

    def track(self, name: str, value: float | None = None, *, xy: tuple[float, float] |
              None = None, text: str | None = None, payload: dict[str, Any] | None = None,
              timestamp: float | None = None, session: str | None = None) -> dict[str, Any]:
        """Hand over one event; returns after it is on disk (``event_id``, ``category``).

        The event carries an ``event_id`` of this client's own: when the answer is lost (the
        connection broke) the event goes to the inbox with it, and the companion stores an
        id at most once, so a copy that had arrived is not stored twice. ``stored`` says
        whether it is kept for any backend, ``backends`` per backend (``stored``, ``reason``),
        ``reason`` why it is kept nowhere (docs/host-protocol.md). Not waiting: returns once
        the line is written (``"queued": "socket"``, ``event_id``).
        """
        event = self._with_id(_event(name, value, xy, text, payload, timestamp, session))
        if not self.wait:
            return self._hand_over({"op": "track", **event}, None)
        return self._events({"op": "track", **event}, [event])

    def track_batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Hand over up to 1,000 events (dicts as in the protocol); answered per event.
        Events without an ``event_id`` get one (see ``track``)."""
        events = [self._with_id(dict(e)) if isinstance(e, dict) else e for e in events]
        if not self.wait:
            return self._hand_over({"op": "track_batch", "events": events}, events)
        return self._events({"op": "track_batch", "events": events}, events)

    def _with_id(self, event: dict[str, Any]) -> dict[str, Any]:
        if "event_id" not in event:
            with self._lock:
                self._counter += 1
                event["event_id"] = f"{self._id_prefix}-{self._counter}"
        return event

    def license(self, refresh: bool = False) -> dict[str, Any]:
        """The license state, the server's message, and the offline grace (never the key)."""
        return self.request({"op": "license", "refresh": refresh})

    def consent(self) -> dict[str, Any]:
        """The effective choice per category (DO_NOT_TRACK included)."""
        return self.request({"op": "consent"})

    def show(self, window: str) -> dict[str, Any]:
        """Open the companion's "license", "consent" or "history" window."""
        return self.request({"op": "show", "window": window})

    def flush(self, timeout: float | None = None, send: bool = True) -> dict[str, Any]:
        """Ask for a send round now (``send``; the answer does not wait for the round).

        Not waiting: first waits up to ``timeout`` (default: ``timeout`` of the client) until
        every event sent so far is acknowledged as stored or in the inbox (else ``ClientError``
        ``timeout``), and raises the first refusal since the last flush (``refused``: how
        many); with no companion the answer says ``"started": false``.
        """
        if self.wait:
            return self.request({"op": "flush"}) if send else {"ok": True, "action": "flush",
                                                                "started": False}
        self._settle(self.timeout if timeout is None else timeout)
        if send:
            try:
                return self.request({"op": "flush"})
            except ClientError as exc:
                if exc.code not in FALLBACK_CODES:
                    raise
        return {"ok": True, "action": "flush", "started": False}

    def wake(self) -> dict[str, Any]:
        """Tell the companion this process stored events elsewhere (CLI, inbox): look soon."""
        return self.request({"op": "wake"})

    def watch(self, on: bool = True) -> dict[str, Any]:
        """Ask for push lines on consent/license changes; read them with ``next_push``."""
        return self.request({"op": "watch", "on": on})

    def next_push(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next push line (None when none arrives in time)."""
        with self._lock:
            if self.pushes:
                return self.pushes.popleft()
            sock = self._connect()
            if not self.wait:
                return self._next_push(timeout)
            try:
                line = self._read_line(sock, timeout)
            except TimeoutError:
                return None
            except OSError as exc:
                self._drop()
                raise ClientError("connection", f"the connection broke: {exc}") from None
            try:
                data = json.loads(line)
            except ValueError:
                self._drop()
                raise ClientError("connection", "the companion sent a line that is not "
                                  "JSON") from None
            return data if isinstance(data, dict) and "push" in data else None

    # -- plumbing -------------------------------------------------------------------------

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its answer; ``ClientError`` for an error answer."""
        answer = self._exchange(message) if self.wait else self._ask(message)
        if not answer.get("ok"):
            error = answer.get("error") or {}
            if error.get("code") in CLOSING_CODES:
                with self._lock:
                    if self.wait:
                        self._drop()
                    else:
                        self._failover(str(error.get("code")))
            raise ClientError(str(error.get("code", "internal")), str(error.get("message", "")),
                              str(error.get("field", "")))
        return answer

    def _events(self, message: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            return self.request(message)
        except ClientError as exc:
            if exc.code not in FALLBACK_CODES or not self.fallback:
                raise
        return self._inbox_answer(events)

    def _inbox_answer(self, events: list[Any]) -> dict[str, Any]:
        lines = [_line(e) for e in events]
        with self._lock:
            append_to_inbox(self.inbox, lines, self._inbox_name)
        return {"ok": True, "queued": "inbox", "events": len(events), "inbox": str(self.inbox)}

    def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with self._lock:
            sock = self._connect()
            try:
                sock.sendall(line + b"\n")
                while True:
                    data = json.loads(self._read_line(sock, self.timeout))
                    if not isinstance(data, dict):
                        raise ValueError("the companion's answer is not a JSON object")
                    if "push" in data:
                        self.pushes.append(data)
                        continue
                    return data
            except (OSError, ValueError) as exc:
                self._drop()
                raise ClientError("connection", f"no answer from the companion: {exc}") from None

    def _connect(self) -> socket.socket | _PipeSocket:
        if self._sock is not None:
            return self._sock
        if time.monotonic() < self._next_try:
            if self._untrusted:
                raise ClientError(UNTRUSTED, self._untrusted)
            raise ClientError("not_running", f"no companion answers at {self.address}")
        self._untrusted = ""
        problem = transport_problem()
        if problem:
            raise ClientError("transport_unavailable", problem)
        if sys.platform == "win32":
            try:
                self._sock = win_connect(self.address, self.connect_timeout)
            except ClientError:
                self._next_try = time.monotonic() + RETRY_CONNECT
                raise
            self._buffer = b""
            self._out.clear()
            return self._sock
        import socket

        untrusted = unix_endpoint_problem(self.socket_path)
        sock = None
        if not untrusted:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(str(self.socket_path))
            except OSError as exc:
                sock.close()
                self._next_try = time.monotonic() + RETRY_CONNECT
                raise ClientError("not_running", f"no companion answers at {self.socket_path} "
                                  f"({exc.strerror or exc})") from None
            untrusted = unix_peer_problem(sock, self.socket_path)
        if untrusted or sock is None:
            if sock is not None:
                sock.close()
            self._next_try = time.monotonic() + RETRY_CONNECT
            message = self._untrusted = f"not talking to {self.socket_path}: {untrusted}"
            log.warning("license companion client: %s; events go to the inbox", message)
            raise ClientError(UNTRUSTED, message)
        if not self.wait:
            sock.setblocking(False)  # answers are read as they come, inside every call
        self._sock = sock
        self._buffer = b""
        self._out.clear()
        return sock

    def _read_line(self, sock: socket.socket | _PipeSocket, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the companion did not answer in time")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the companion closed the connection")
            self._buffer += chunk
            if len(self._buffer) > MAX_ANSWER and b"\n" not in self._buffer:
                raise ConnectionError(f"an answer longer than {MAX_ANSWER} bytes")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer = b""

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Close the connection (the next call opens a new one). Not waiting: first waits up
        to ``timeout`` for the answers, then moves the events still unanswered to the inbox."""
        with self._lock:
            if not self.wait and (self._pending or self._unsaved):
                try:
                    self._settle(timeout)
                except ClientError as exc:
                    log.warning("license companion client: closing: %s", exc)
                if self._pending:
                    self._failover("closed by the host")
            self._drop()

    # -- not waiting: write now, read the answers inside later calls --------------------

    def _hand_over(self, message: dict[str, Any], batch: list[Any] | None) -> dict[str, Any]:
        line = _line(message)
        events = [message] if batch is None else batch
        with self._lock:
            try:
                self._connect()
                deadline = time.monotonic() + self.timeout
                while len(self._pending) >= self.max_pending and self._sock is not None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._pump(left):
                        self._failover("no answers in time")
                if self._sock is None:
                    raise ClientError("connection", "the connection broke")
            except ClientError as exc:
                if exc.code not in FALLBACK_CODES or not self.fallback:
                    raise
                return self._inbox_answer(events)
            self._pending.append(_Pending(line, batch))
            self._out += line
            self._pump(0)
        if batch is None:
            return {"ok": True, "queued": "socket", "event_id": message["event_id"]}
        return {"ok": True, "queued": "socket", "events": len(batch)}

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        entry = _Pending(_line(message), None, query=True)
        with self._lock:
            self._connect()
            self._pending.append(entry)
            self._out += entry.line
            deadline = time.monotonic() + self.timeout
            while entry.answer is None and self._sock is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._pump(left):
                    self._failover("no answer in time")
        return entry.answer or {"ok": False, "error": {"code": "connection", "message":
                                                       "the connection broke"}}

    def _next_push(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while not self.pushes and self._sock is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(left):
                break
        return self.pushes.popleft() if self.pushes else None

    def _settle(self, timeout: float) -> None:
        """Wait until nothing sent is unanswered; raise the first refusal since the last call."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending and self._sock is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._pump(left):
                    raise ClientError("timeout", f"{len(self._pending)} answers still outstanding")
            if self._unsaved:
                self._save([])
            refused, self._refused = self._refused, []
        if refused:
            refused[0].refused = len(refused)
            raise refused[0]

    def _pump(self, wait: float) -> bool:
        """Write what the socket takes and read the answers that came, waiting up to ``wait``
        seconds for either (0: not at all). False when a wait ended with nothing."""
        sock = self._sock
        if sock is None:
            return True
        try:
            if isinstance(sock, _PipeSocket):
                if self._out:
                    sock.settimeout(self.timeout)
                    sock.sendall(bytes(self._out))
                    self._out.clear()
                sock.settimeout(max(0.0, wait))
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    return wait <= 0
            else:
                if wait > 0:
                    import select

                    ready = select.select([sock], [sock] if self._out else [], [], wait)
                    if not ready[0] and not ready[1]:
                        return False
                if self._out:
                    try:
                        del self._out[:sock.send(self._out)]
                    except BlockingIOError:
                        pass
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    return True
            if not data:
                raise ConnectionError("the companion closed the connection")
        except OSError as exc:
            self._failover(str(exc))
            return True
        self._buffer += data
        if b"\n" not in data:
            if len(self._buffer) > MAX_ANSWER:
                self._failover(f"an answer longer than {MAX_ANSWER} bytes")
            return True
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._answered(line)
        return True

    def _answered(self, line: bytes) -> None:
        if line.startswith(b'{"push"'):
            try:
                self.pushes.append(json.loads(line))
            except ValueError:
                pass
            return
        if not self._pending:
            return
        head = self._pending.popleft()
        if head.batch is None and not head.query and line.startswith(b'{"ok":true'):
            return  # stored: the usual answer, not even parsed
        try:
            answer = json.loads(line)
            if not isinstance(answer, dict):
                raise ValueError("not an object")
        except ValueError:
            answer = {"ok": False, "error": {"code": "connection", "message":
                                             "the companion's answer is not a JSON object"}}
        if head.query:
            head.answer = answer
        elif head.batch is None:
            self._refusal(answer, [head.line])
        elif not answer.get("ok"):
            self._refusal(answer, [_line(e) for e in head.batch])
        else:
            for event, result in zip(head.batch, answer.get("results") or [], strict=False):
                if isinstance(result, dict) and not result.get("ok"):
                    self._refusal(result, [_line(event)])

    def _refusal(self, answer: dict[str, Any], lines: list[bytes]) -> None:
        if answer.get("ok"):
            return
        error = answer.get("error") or {}
        exc = ClientError(str(error.get("code", "internal")), str(error.get("message", "")),
                          str(error.get("field", "")))
        if exc.code in FALLBACK_CODES and self.fallback:
            self._save(lines)  # not stored: the inbox keeps it
        else:
            self._refuse(exc)

    def _refuse(self, exc: ClientError) -> None:
        self._refused.append(exc)
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:
                log.exception("license companion client: on_error failed")

    def _failover(self, why: str) -> None:
        """The connection broke: the events sent but unanswered go to the inbox with their ids
        (stored at most once), waiting queries get ``connection``."""
        self._drop()
        self._out.clear()
        pending, self._pending = self._pending, deque()
        lines: list[bytes] = []
        for entry in pending:
            if entry.query:
                entry.answer = {"ok": False, "error": {"code": "connection", "message":
                                                       f"the connection broke: {why}"}}
            elif entry.batch is None:
                lines.append(entry.line)
            else:
                lines += [_line(e) for e in entry.batch]
        if lines:
            self._save(lines)

    def _save(self, lines: list[bytes]) -> None:
        if not self.fallback:
            self._refuse(ClientError("connection", f"{len(lines)} events not acknowledged "
                                     "(no inbox: fallback is off)"))
            return
        try:
            append_to_inbox(self.inbox, self._unsaved + lines, self._inbox_name)
            self._unsaved = []
        except (OSError, ClientError) as exc:
            self._unsaved += lines  # the next flush or close tries again
            self._refuse(ClientError("inbox", f"cannot write the inbox {self.inbox}: {exc}"))


_not_waiting: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    """What a non-waiting client still holds is acknowledged or in the inbox before exit."""
    for client in list(_not_waiting):
        client.close()


def nudge(product: str | None = None, *, socket_path: str | os.PathLike[str] | None = None,
          timeout: float = NUDGE_TIMEOUT) -> bool:
    """Best effort, never raises, never waits for an answer: send ``wake`` to a running
    companion. True when the line was handed to one.

    Args:
        product: the product id (default: ``LICENSE_COMPANION_PRODUCT``).
        socket_path: override the socket.
        timeout: seconds connecting and writing may take.
    """
    if sys.platform == "win32":
        return _win_nudge(str(socket_path) if socket_path else
                          endpoint_address(product or os.environ.get(PRODUCT_ENV, "")), timeout)
    try:
        path = Path(socket_path) if socket_path else default_socket_path(
            product or os.environ.get(PRODUCT_ENV, ""))
        if not path.exists():
            return False  # no companion has ever listened there: nothing to connect to
    except (OSError, ValueError):
        return False
    if transport_problem():
        return False
    import socket

    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except (OSError, ValueError):
        return False
    try:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(b'{"op":"wake"}\n')
        return True
    except OSError:
        return False
    finally:
        sock.close()


_default: Client | None = None
_default_lock = threading.Lock()


def configure(product: str | None = None, **options: Any) -> Client:
    """Replace the default client used by the module-level functions."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = Client(product, **options)
        return _default


def default_client() -> Client:
    """The client the module-level functions use (built on first use from the environment)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def hello() -> dict[str, Any]:
    """``Client.hello`` on the default client."""
    return default_client().hello()


def track(name: str, value: float | None = None, **kwargs: Any) -> dict[str, Any]:
    """``Client.track`` on the default client."""
    return default_client().track(name, value, **kwargs)


def track_batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    """``Client.track_batch`` on the default client."""
    return default_client().track_batch(events)


def license(refresh: bool = False) -> dict[str, Any]:
    """``Client.license`` on the default client."""
    return default_client().license(refresh)


def consent() -> dict[str, Any]:
    """``Client.consent`` on the default client."""
    return default_client().consent()


def show(window: str) -> dict[str, Any]:
    """``Client.show`` on the default client."""
    return default_client().show(window)


def flush() -> dict[str, Any]:
    """``Client.flush`` on the default client."""
    return default_client().flush()


def wake() -> dict[str, Any]:
    """``Client.wake`` on the default client."""
    return default_client().wake()


# -- Windows: the named pipe (standard library only: _winapi and ctypes) --------------------

PIPE_PREFIX = "\\\\.\\pipe\\"
ERROR_FILE_NOT_FOUND = 2
ERROR_PIPE_BUSY = 231
SECURITY_SQOS_PRESENT = 0x00100000  # with SECURITY_IDENTIFICATION (0): the server cannot
SECURITY_IDENTIFICATION = 0x00010000  # act as us, only learn who we are
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1


def _win_api() -> Any:
    import _winapi  # Windows only

    return _winapi


def pipe_name(product: str, environ: dict[str, str] | None = None,
              user_sid: str | None = None) -> str:
    """The pipe of ``product``'s companion for this user (``user_sid``: default ours)."""
    env = os.environ if environ is None else environ
    if env.get(SOCKET_ENV):
        return env[SOCKET_ENV]
    return f"{PIPE_PREFIX}{APP_ID}-{product_slug(product)}-{user_sid or win_user_sid()}"


def _win_dlls() -> tuple[Any, Any]:
    import ctypes
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    advapi32.OpenProcessToken.argtypes = [wintypes.HANDLE, wintypes.DWORD,
                                          ctypes.POINTER(wintypes.HANDLE)]
    advapi32.GetTokenInformation.argtypes = [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p,
                                             wintypes.DWORD, ctypes.POINTER(wintypes.DWORD)]
    advapi32.ConvertSidToStringSidW.argtypes = [ctypes.c_void_p,
                                                ctypes.POINTER(wintypes.LPWSTR)]
    kernel32.LocalFree.argtypes = [ctypes.c_void_p]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    kernel32.GetNamedPipeServerProcessId.argtypes = [wintypes.HANDLE,
                                                     ctypes.POINTER(wintypes.ULONG)]
    return advapi32, kernel32


def win_process_sid(process: int) -> str:
    """The user SID (``S-1-5-21-...``) of the process behind the handle ``process``."""
    import ctypes
    from ctypes import wintypes

    advapi32, kernel32 = _win_dlls()
    token = wintypes.HANDLE()
    if not advapi32.OpenProcessToken(process, TOKEN_QUERY, ctypes.byref(token)):
        raise OSError(f"OpenProcessToken failed (error {ctypes.get_last_error()})")  # type: ignore[attr-defined]
    try:
        size = wintypes.DWORD()
        advapi32.GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        if not advapi32.GetTokenInformation(token, TOKEN_USER_CLASS, buffer, size,
                                            ctypes.byref(size)):
            raise OSError(f"GetTokenInformation failed (error {ctypes.get_last_error()})")  # type: ignore[attr-defined]
        sid = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_void_p))[0]  # TOKEN_USER.User.Sid
        text = wintypes.LPWSTR()
        if not advapi32.ConvertSidToStringSidW(sid, ctypes.byref(text)):
            raise OSError(f"ConvertSidToStringSidW failed (error {ctypes.get_last_error()})")  # type: ignore[attr-defined]
        try:
            return text.value or ""
        finally:
            kernel32.LocalFree(ctypes.cast(text, ctypes.c_void_p))
    finally:
        kernel32.CloseHandle(token)


def win_user_sid() -> str:
    """This process's user SID."""
    _winapi = _win_api()
    return win_process_sid(_winapi.GetCurrentProcess())


def win_server_sid(pipe: int) -> str:
    """The user SID of the process serving the connected ``pipe`` handle."""
    import ctypes
    from ctypes import wintypes

    _winapi = _win_api()
    _advapi32, kernel32 = _win_dlls()
    pid = wintypes.ULONG()
    if not kernel32.GetNamedPipeServerProcessId(pipe, ctypes.byref(pid)):
        raise OSError(f"GetNamedPipeServerProcessId failed (error {ctypes.get_last_error()})")  # type: ignore[attr-defined]
    process = _winapi.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid.value)
    try:
        return win_process_sid(process)
    finally:
        _winapi.CloseHandle(process)


def win_check_server(pipe: int, expected_sid: str | None = None) -> None:
    """Refuse (``ClientError`` ``untrusted_endpoint``) a pipe whose server process is not run by
    ``expected_sid`` (default: our own user), before anything is sent on it."""
    want = expected_sid or win_user_sid()
    try:
        got = win_server_sid(pipe)
    except OSError as exc:
        raise ClientError("untrusted_endpoint", f"cannot tell who serves the pipe ({exc}); "
                          "nothing was sent") from None
    if got != want:
        raise ClientError("untrusted_endpoint", f"the pipe is served by a process of another "
                          f"user ({got}), not by this user's companion; nothing was sent")


class _PipeSocket:
    """A connected pipe with the few socket methods ``Client`` uses (overlapped I/O, so
    a timeout can end a wait). A read that timed out stays pending for the next ``recv``."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.timeout: float | None = None
        self._read: Any = None

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def _wait(self, ov: Any) -> bool:
        _winapi = _win_api()
        ms = _winapi.INFINITE if self.timeout is None else max(0, int(self.timeout * 1000))
        return bool(_winapi.WaitForSingleObject(ov.event, ms) == _winapi.WAIT_OBJECT_0)

    def sendall(self, data: bytes) -> None:
        _winapi = _win_api()
        view = memoryview(data)
        while view:
            ov, err = _winapi.WriteFile(self.handle, bytes(view[:65536]), overlapped=True)
            if err == _winapi.ERROR_IO_PENDING and not self._wait(ov):
                ov.cancel()
                ov.GetOverlappedResult(True)
                raise TimeoutError("the companion does not read")
            sent, _err = ov.GetOverlappedResult(True)
            view = view[sent:]

    def recv(self, size: int) -> bytes:
        _winapi = _win_api()
        if self._read is None:
            try:
                self._read, _err = _winapi.ReadFile(self.handle, size, overlapped=True)
            except BrokenPipeError:
                return b""
        if not self._wait(self._read):
            raise TimeoutError("the companion did not answer in time")
        ov, self._read = self._read, None
        try:
            ov.GetOverlappedResult(True)
        except BrokenPipeError:
            return b""
        return bytes(ov.getbuffer())

    def close(self) -> None:
        _winapi = _win_api()
        if self._read is not None:
            self._read.cancel()
            try:
                self._read.GetOverlappedResult(True)
            except OSError:
                pass
            self._read = None
        _winapi.CloseHandle(self.handle)


def _win_open(name: str, timeout: float) -> int:
    _winapi = _win_api()
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(_winapi.CreateFile(
                name, _winapi.GENERIC_READ | _winapi.GENERIC_WRITE, 0, _winapi.NULL,
                _winapi.OPEN_EXISTING, _winapi.FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                SECURITY_IDENTIFICATION, _winapi.NULL))
        except OSError as exc:
            left = deadline - time.monotonic()
            if getattr(exc, "winerror", 0) != ERROR_PIPE_BUSY or left <= 0:
                raise
        try:  # every instance is taken for the moment: wait for the next one
            _winapi.WaitNamedPipe(name, max(1, int(left * 1000)))
        except OSError:
            pass


def win_connect(name: str, timeout: float, expected_sid: str | None = None) -> _PipeSocket:
    """Open the companion's pipe and check who serves it (``ClientError`` when no companion
    answers, ``untrusted_endpoint`` when another user's process does)."""
    try:
        handle = _win_open(name, timeout)
    except OSError as exc:
        raise ClientError("not_running", f"no companion answers at {name} "
                          f"({exc.strerror or exc})") from None
    try:
        win_check_server(handle, expected_sid)
    except ClientError:
        _winapi = _win_api()
        _winapi.CloseHandle(handle)
        raise
    return _PipeSocket(handle)


def _win_nudge(name: str, timeout: float) -> bool:
    try:
        pipe = win_connect(name, timeout)
    except (ClientError, OSError, ValueError):
        return False
    try:
        pipe.settimeout(timeout)
        pipe.sendall(b'{"op":"wake"}\n')
        return True
    except OSError:
        return False
    finally:
        pipe.close()
