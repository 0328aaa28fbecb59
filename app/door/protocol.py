"""The host protocol: one UTF-8 JSON object per line in, one answer per line out, in order.

Pure: no sockets, no threads, no Qt. ``parse_line`` turns the bytes of one line into a
``Request`` or an ``ErrorReply`` and never raises, whatever the bytes; the socket server, the
inbox reader and ``track --jsonl`` all use it, so a line means the same thing on every door.
``app.door.dispatch`` answers the requests. The wire format is written down in
``docs/host-protocol.md``; the constants here are its limits.

Why the checks happen before ``json.loads`` sees the line: any process of the user can connect,
so the cost of one line must be bounded (length checked before decoding, nesting and number size
bounded during and right after decoding) and every failure must become an answer with a stable
``code`` rather than a dropped connection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.model.errors import ValidationError
from app.model.event import make_event
from app.model.text import printable

PROTOCOL = 1  # the version this companion speaks; a hello asking for more gets an error
MAX_LINE = 1024 * 1024  # bytes per line, newline excluded
MAX_BATCH = 1000  # events per track_batch
MAX_DEPTH = 8  # nesting of objects/arrays; a valid request needs 4
MAX_INT_DIGITS = 20  # longer integer literals are refused before Python converts them
MAX_ID = 64  # length of a request "id" echoed back

CHECK_ONLY_ID = "-"  # the ids of an event built only to check it
OPS = ("hello", "track", "track_batch", "license", "consent", "watch", "show", "flush", "wake")
WINDOWS = ("license", "consent", "history")
VALUE_FIELDS = ("value", "xy", "text")
EVENT_FIELDS = frozenset({"op", "id", "name", *VALUE_FIELDS, "payload", "timestamp", "session",
                          "event_id"})

# Stable error codes (documented; hosts may branch on them).
BAD_UTF8 = "bad_utf8"
BAD_JSON = "bad_json"
LINE_TOO_LONG = "line_too_long"
TOO_DEEP = "too_deep"
BAD_NUMBER = "bad_number"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_OP = "unknown_op"
UNSUPPORTED_PROTOCOL = "unsupported_protocol"
INVALID_FIELD = "invalid_field"
BATCH_TOO_LARGE = "batch_too_large"
STORAGE = "storage"
KEYRING = "keyring"
NOT_AVAILABLE = "not_available"
TOO_MANY_CONNECTIONS = "too_many_connections"
TIMEOUT = "timeout"
INTERNAL = "internal"


@dataclass(frozen=True)
class ErrorReply:
    """A request that cannot be served: a stable ``code``, one line for people, maybe a field.

    Attributes:
        code: one of the module's error code constants.
        message: what is wrong and what to do.
        field: the offending field ("events[3].payload.x") or "" when none.
        request_id: the request's ``id``, echoed so a pipelining host can match answers.
        close: the connection is closed after this answer (the stream cannot be trusted).
    """

    code: str
    message: str
    field: str = ""
    request_id: Any = None
    close: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The answer object (``ok`` false)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return with_id({"ok": False, "error": error}, self.request_id)


@dataclass(frozen=True)
class TrackItem:
    """One validated event, ready for ``Companion.track`` (which validates it once more)."""

    name: str
    kind: str
    value: Any
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float | None = None
    session: str | None = None
    event_id: str | None = None  # the host's own id: stored at most once, whatever the door


@dataclass(frozen=True)
class Request:
    """A well-formed request.

    Attributes:
        op: one of ``OPS``.
        request_id: the optional ``id`` to echo.
        args: op-specific, already checked: ``protocol`` (hello), ``on`` (watch), ``window``
            (show), ``refresh`` (license).
        items: the events of ``track`` (one) and ``track_batch``.
        item_errors: for ``track_batch``: index -> why that event is refused (per-event).
    """

    op: str
    request_id: Any = None
    args: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[TrackItem, ...] = ()
    item_errors: Mapping[int, ErrorReply] = field(default_factory=dict)


def with_id(answer: dict[str, Any], request_id: Any) -> dict[str, Any]:
    """``answer`` with the request's ``id`` when it had one."""
    if request_id is not None:
        answer["id"] = request_id
    return answer


def encode(answer: Mapping[str, Any]) -> bytes:
    """One answer as one line: compact UTF-8 JSON and a newline."""
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8") + b"\n"


class _NumberError(Exception):
    """Raised from inside ``json.loads`` for a number we refuse."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberError(f"an integer of {len(text)} digits; at most {MAX_INT_DIGITS}")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 64:
        raise _NumberError(f"a number written with {len(text)} characters; at most 64")
    value = float(text)
    if not math.isfinite(value):
        raise _NumberError(f"{text[:20]} is out of range")
    return value


def _parse_constant(text: str) -> float:
    raise _NumberError(f"{text} is not a JSON number")


def _check_tree(value: Any, depth: int, where: str) -> ErrorReply | None:
    """Nesting depth and text that cannot be UTF-8 (lone surrogates from ``\\ud800`` escapes)."""
    if depth > MAX_DEPTH:
        return ErrorReply(TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels", where)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ErrorReply(BAD_UTF8, "contains a lone surrogate (\\ud800-\\udfff escape) that "
                              "is not a character", where or "line")
    elif isinstance(value, dict):
        for key, item in value.items():
            # The path is echoed in the answer: spelt out, so a bad key cannot break it.
            path = f"{where}.{printable(key)}" if where else printable(key)
            problem = _check_tree(key, depth + 1, path) or _check_tree(item, depth + 1, path)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _check_tree(item, depth + 1, f"{where}[{index}]")
            if problem:
                return problem
    return None


def decode_object(line: bytes) -> dict[str, Any] | ErrorReply:
    """The JSON object of one line (its newline stripped), or why it is not one."""
    if not line.strip():
        return ErrorReply(BAD_JSON, "an empty line; a request is one JSON object on one line")
    if len(line) > MAX_LINE:
        return ErrorReply(LINE_TOO_LONG, f"the line is {len(line)} bytes; at most {MAX_LINE}",
                          close=True)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ErrorReply(BAD_UTF8, f"the line is not UTF-8 (byte {exc.start}); "
                          "requests are UTF-8 JSON")
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant)
    except _NumberError as exc:
        return ErrorReply(BAD_NUMBER, f"refused a number: {exc}")
    except RecursionError:
        return ErrorReply(TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels")
    except ValueError as exc:
        return ErrorReply(BAD_JSON, f"not valid JSON: {str(exc)[:200]}")
    if not isinstance(data, dict):
        return ErrorReply(NOT_AN_OBJECT, f"a request is a JSON object, got {type(data).__name__}")
    problem = _check_tree(data, 1, "")
    if problem is not None:
        return problem
    return data


def _request_id(data: Mapping[str, Any]) -> Any:
    rid = data.get("id")
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        return None
    if isinstance(rid, str) and len(rid) > MAX_ID:
        return None
    return rid


def parse_line(line: bytes) -> Request | ErrorReply:
    """One line of bytes -> a request, or the answer explaining why it is not one. Never raises."""
    try:
        return _parse(line)
    except Exception as exc:  # a bug here must still become an answer, not a dead reader
        return ErrorReply(INTERNAL, f"internal error reading the request ({type(exc).__name__})")


def _parse(line: bytes) -> Request | ErrorReply:
    data = decode_object(line.rstrip(b"\r\n"))
    if isinstance(data, ErrorReply):
        return data
    return parse_object(data)


def parse_object(data: Mapping[str, Any]) -> Request | ErrorReply:
    """A decoded request object -> a request, or why it is not one."""
    rid = _request_id(data)
    if "id" in data and rid is None:
        return ErrorReply(INVALID_FIELD, f"id: must be a text of at most {MAX_ID} characters "
                          "or an integer", "id")
    op = data.get("op")
    if not isinstance(op, str):
        return ErrorReply(INVALID_FIELD, "op: missing; one of " + ", ".join(OPS), "op", rid)
    if op not in OPS:
        return ErrorReply(UNKNOWN_OP, f"unknown op {op[:40]!r}; this companion (protocol "
                          f"{PROTOCOL}) knows " + ", ".join(OPS), "op", rid)
    if op == "hello":
        wanted = data.get("protocol", PROTOCOL)
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
            return ErrorReply(INVALID_FIELD, "protocol: must be a whole number >= 1",
                              "protocol", rid)
        if wanted > PROTOCOL:
            return ErrorReply(UNSUPPORTED_PROTOCOL, f"protocol {wanted} was asked for; this "
                              f"companion speaks protocol {PROTOCOL}: update the companion or "
                              f"speak {PROTOCOL}", "protocol", rid)
        return Request(op, rid, {"protocol": wanted})
    if op == "track":
        item = event_item(data)
        if isinstance(item, ErrorReply):
            return ErrorReply(item.code, item.message, item.field, rid)
        return Request(op, rid, items=(item,))
    if op == "track_batch":
        return _batch(data, rid)
    if op == "watch":
        on = data.get("on", True)
        if not isinstance(on, bool):
            return ErrorReply(INVALID_FIELD, "on: must be true or false", "on", rid)
        return Request(op, rid, {"on": on})
    if op == "license":
        refresh = data.get("refresh", False)
        if not isinstance(refresh, bool):
            return ErrorReply(INVALID_FIELD, "refresh: must be true or false", "refresh", rid)
        return Request(op, rid, {"refresh": refresh})
    if op == "show":
        window = data.get("window")
        if window not in WINDOWS:
            return ErrorReply(INVALID_FIELD, "window: must be one of " + ", ".join(WINDOWS),
                              "window", rid)
        return Request(op, rid, {"window": window})
    return Request(op, rid)


def _batch(data: Mapping[str, Any], rid: Any) -> Request | ErrorReply:
    events = data.get("events")
    if not isinstance(events, list):
        return ErrorReply(INVALID_FIELD, "events: must be a list of event objects", "events", rid)
    if len(events) > MAX_BATCH:
        return ErrorReply(BATCH_TOO_LARGE, f"events: {len(events)} events; at most {MAX_BATCH} "
                          "per track_batch (split it)", "events", rid)
    items: list[TrackItem] = []
    errors: dict[int, ErrorReply] = {}
    for index, event in enumerate(events):
        item = event_item(event, prefix=f"events[{index}].") if isinstance(event, dict) else \
            ErrorReply(INVALID_FIELD, f"events[{index}]: must be an object", f"events[{index}]")
        if isinstance(item, ErrorReply):
            errors[index] = item
        else:
            items.append(item)
    return Request("track_batch", rid, items=tuple(items), item_errors=errors)


def event_item(data: Mapping[str, Any], prefix: str = "") -> TrackItem | ErrorReply:
    """Check one event object with the same rules as the command line's ``track``.

    Exactly one of ``value`` (a number), ``xy`` (a pair of numbers) and ``text``; ``payload`` a
    flat object; ``timestamp`` seconds since the epoch; ``session`` a text. Unknown fields are
    refused, so a misspelt ``payload`` is not silently dropped.
    """
    unknown = sorted(printable(k) for k in data if k not in EVENT_FIELDS)
    if unknown:
        return ErrorReply(INVALID_FIELD, f"{prefix}{unknown[0]}: unknown field; an event has "
                          "name, value | xy | text, payload, timestamp, session, event_id",
                          prefix + unknown[0])
    given = [name for name in VALUE_FIELDS if name in data]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        return ErrorReply(INVALID_FIELD, f"{prefix}value: give exactly one of value (a number), "
                          f"xy (a pair of numbers) or text; got {what}", prefix + "value")
    kind = {"value": "number", "xy": "xy", "text": "text"}[given[0]]
    value = data[given[0]]
    payload = data.get("payload")
    timestamp = data.get("timestamp")
    session = data.get("session")
    if session is not None and not isinstance(session, str):
        return ErrorReply(INVALID_FIELD, f"{prefix}session: must be text", prefix + "session")
    event_id = data.get("event_id")
    if (event_id is not None and not isinstance(event_id, str)) or event_id == "":
        return ErrorReply(INVALID_FIELD, f"{prefix}event_id: must be a non-empty text",
                          prefix + "event_id")
    try:
        # Checked only (the companion builds the event when it stores it): fixed ids, so no
        # random ids are drawn for an event that is thrown away.
        make_event(data.get("name"), kind=kind, value=value, payload=payload,
                   timestamp=timestamp, session_id=session or CHECK_ONLY_ID,
                   event_id=event_id or CHECK_ONLY_ID)
    except ValidationError as exc:
        where = exc.field
        if where.startswith("value"):
            where = given[0] + where[len("value"):]
        elif where == "session_id":
            where = "session"
        elif where == "id":
            where = "event_id"
        return ErrorReply(INVALID_FIELD, f"{prefix}{where}: {exc.problem}", prefix + where)
    return TrackItem(
        name=data["name"], kind=kind, value=value, payload=dict(payload or {}),
        timestamp=None if timestamp is None else float(timestamp), session=session or None,
        event_id=event_id,
    )
