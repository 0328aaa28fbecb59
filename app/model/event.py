"""The one event type that both backends are built from, validated at the door.

An event maps onto KeyManager as one telemetry record (``data_group`` = name, ``data_type`` from
the kind of value) and onto TelemetryDeck as one signal (``type`` = name, numbers as
``payload.floatValue``). Validation happens here, before anything is stored, so every error names
the field and nothing half-valid reaches the outbox.

Characters, field by field: names, payload keys and ids are identifiers people read in a
terminal or a window, so only printable characters; free text (a text value, a payload text)
may hold any script, tabs and newlines, but no other control character (C0, DEL, C1) and no bidi
embedding/override/isolate, which would reorder what is shown. A lone surrogate (what undecodable
bytes in argv become) is never text. Each refusal names the field and the character's code point.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.model.errors import ValidationError
from app.model.ids import uuid4_hex, uuid4_text
from app.model.text import BIDI_CONTROLS, is_c0, is_c1, is_surrogate, printable

Kind = Literal["number", "xy", "text"]
Primitive = str | int | float | bool

MAX_NAME = 255
MAX_TEXT = 4096
MAX_PAYLOAD_KEYS = 50
MAX_PAYLOAD_KEY = 255
MAX_PAYLOAD_VALUE = 1024
# Timestamps are seconds since 1970-01-01 UTC (a float; fractions allowed), from the epoch up to
# 2100-01-01: every such moment is a date every backend and every platform can write. A later
# number is a mistake, most often milliseconds (``Date.now()``, ``currentTimeMillis``).
MIN_TIMESTAMP = 0
MAX_TIMESTAMP = 4102444800  # 2100-01-01T00:00:00Z

# TelemetryDeck Ingest API v2, "Forbidden Payload Values": the server would rename these.
TELEMETRYDECK_RESERVED = frozenset(
    {"count", "type", "appID", "clientUser", "__time", "payload", "platform", "receivedAt"}
)
TELEMETRYDECK_NAMESPACE = "TelemetryDeck."
# Keys the TelemetryDeck request builder writes from the event's own value (see
# app/backends/telemetrydeck.py); a caller may not set them through the payload.
VALUE_KEYS = frozenset({"floatValue", "Value.x", "Value.y", "Value.text"})


@dataclass(frozen=True)
class Event:
    """One thing that happened, as the vendor's application reported it.

    Attributes:
        name: what happened ("feature.export"); KeyManager ``data_group``, TelemetryDeck ``type``.
        kind: which of the three value shapes ``value`` has.
        value: a finite number, an (x, y) pair of finite numbers, or a text.
        payload: flat extra dimensions (TelemetryDeck only; KeyManager has no field for them).
        timestamp: seconds since the epoch, UTC, when the event was tracked.
        session_id: the app session it belongs to (a UUID).
        id: unique id, so a resend after a crash can be recognised.
    """

    name: str
    kind: Kind
    value: float | tuple[float, float] | str
    payload: Mapping[str, Primitive] = field(default_factory=dict)
    timestamp: float = 0.0
    session_id: str = ""
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form kept in the outbox."""
        value: Any = list(self.value) if isinstance(self.value, tuple) else self.value
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "value": value,
            "payload": dict(self.payload),
            "timestamp": self.timestamp,
            "session_id": self.session_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild (and re-validate) an event read back from storage."""
        return make_event(
            data["name"],
            kind=data["kind"],
            value=data["value"],
            payload=data.get("payload") or {},
            timestamp=data["timestamp"],
            session_id=data["session_id"],
            event_id=data["id"],
        )


def _describe(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    if is_surrogate(ch):
        return f"{code} (invalid UTF-8 or a lone surrogate)"
    if ch in BIDI_CONTROLS:
        return f"{code} (a bidi override, which reorders the text on screen)"
    if is_c0(ch) or is_c1(ch):
        return f"{code} (a control character)"
    return f"{code} (not a printable character)"


# Every character ``_text_char`` refuses, as one class: free text is checked by one search.
_TEXT_REFUSED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff"
    + "".join(sorted(BIDI_CONTROLS)) + "]"
)


def _bad_char(text: str, allowed: Callable[[str], bool]) -> tuple[int, str] | None:
    # The common case in one C call each (validation runs on every event at the door):
    # ``isprintable`` is ``_name_char`` for the whole text, the class is ``_text_char``'s.
    if allowed is _name_char and text.isprintable():
        return None
    if allowed is _text_char:
        found = _TEXT_REFUSED.search(text)
        return None if found is None else (found.start(), found.group())
    for index, ch in enumerate(text):
        if not allowed(ch):
            return index, ch
    return None


def _text_char(ch: str) -> bool:
    """Free text: any character but controls (tab and newline excepted) and bidi overrides."""
    if ch in "\t\n":
        return True
    return not (is_c0(ch) or is_c1(ch) or is_surrogate(ch) or ch in BIDI_CONTROLS)


def _name_char(ch: str) -> bool:
    """Names, keys and ids: printable characters only (the space included, no other blank)."""
    return ch.isprintable()


def _check_text(
    fieldname: str, text: object, limit: int, *, allow_empty: bool = False, strict: bool = False
) -> str:
    """A text within ``limit``; ``strict`` for names and ids (printable only), else free text."""
    if not isinstance(text, str):
        raise ValidationError(fieldname, f"must be text, got {type(text).__name__}")
    if not allow_empty and not text.strip():
        raise ValidationError(fieldname, "must not be empty")
    if len(text) > limit:
        raise ValidationError(fieldname, f"is {len(text)} characters long; the limit is {limit}")
    bad = _bad_char(text, _name_char if strict else _text_char)
    if bad is not None:
        index, ch = bad
        if is_surrogate(ch):
            rule = "pass valid UTF-8 text"
        elif strict:
            rule = "only printable characters are allowed"
        else:
            rule = "tab and newline are the only control characters allowed"
        raise ValidationError(fieldname, f"contains {_describe(ch)} at position {index}; {rule}")
    return text


def _check_number(fieldname: str, number: object) -> float:
    # bool is an int in Python, but True is not a measurement.
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise ValidationError(fieldname, f"must be a number, got {type(number).__name__}")
    if isinstance(number, int) and abs(number) > 2**53:
        raise ValidationError(fieldname, "is too large to send exactly (limit 2**53)")
    value = float(number)
    if not math.isfinite(value):
        raise ValidationError(fieldname, f"must be a finite number, got {value}")
    return value


def _check_timestamp(timestamp: object) -> float:
    """Seconds since the epoch within ``MIN_TIMESTAMP``..``MAX_TIMESTAMP`` (see above)."""
    ts = _check_number("timestamp", timestamp)
    if MIN_TIMESTAMP <= ts <= MAX_TIMESTAMP:
        return ts
    rule = (f"must be seconds since 1970-01-01 UTC, from {MIN_TIMESTAMP} to {MAX_TIMESTAMP} "
            f"(2100-01-01), got {ts:.17g}")
    if ts > MAX_TIMESTAMP and MIN_TIMESTAMP <= ts / 1000 <= MAX_TIMESTAMP:
        rule += "; that looks like milliseconds: divide by 1000"
    raise ValidationError("timestamp", rule)


def _check_name(name: object) -> str:
    text = _check_text("name", name, MAX_NAME, strict=True)
    if text != text.strip():
        raise ValidationError("name", "must not start or end with white space")
    return text


def _check_payload(payload: object) -> dict[str, Primitive]:
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", "must be a mapping of keys to primitive values")
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise ValidationError("payload", f"has {len(payload)} keys; the limit is {MAX_PAYLOAD_KEYS}")
    clean: dict[str, Primitive] = {}
    for key, item in payload.items():
        if not isinstance(key, str):
            raise ValidationError("payload", f"key {key!r} must be text")
        where = f"payload.{printable(key)}"
        _check_text(where, key, MAX_PAYLOAD_KEY, strict=True)
        if key in TELEMETRYDECK_RESERVED or key.startswith(TELEMETRYDECK_NAMESPACE):
            raise ValidationError(
                where, "is reserved by TelemetryDeck (count, type, appID, clientUser, __time, "
                "payload, platform, receivedAt and TelemetryDeck.*); choose another key"
            )
        if key in VALUE_KEYS:
            raise ValidationError(where, "is written from the event's value; pass it as the value")
        if isinstance(item, bool):
            clean[key] = item
        elif isinstance(item, int | float):
            number = _check_number(where, item)
            clean[key] = item if isinstance(item, int) else number
        elif isinstance(item, str):
            clean[key] = _check_text(where, item, MAX_PAYLOAD_VALUE, allow_empty=True)
        elif item is None:
            raise ValidationError(where, "must not be null; leave the key out instead")
        else:
            raise ValidationError(
                where, f"must be a text, number or true/false, not {type(item).__name__} "
                "(the payload is flat: no nested objects or lists)"
            )
    return clean


def make_event(
    name: object,
    *,
    kind: str,
    value: object,
    payload: object = None,
    timestamp: float | None = None,
    session_id: str | None = None,
    event_id: str | None = None,
) -> Event:
    """Validate everything and build an ``Event``; raises ``ValidationError`` naming the field."""
    clean_name = _check_name(name)
    clean_value: float | tuple[float, float] | str
    if kind == "number":
        clean_value = _check_number("value", value)
    elif kind == "xy":
        if isinstance(value, str) or not isinstance(value, list | tuple) or len(value) != 2:
            raise ValidationError("value", "an xy value must be a pair of numbers (x, y)")
        clean_value = (_check_number("value.x", value[0]), _check_number("value.y", value[1]))
    elif kind == "text":
        clean_value = _check_text("value", value, MAX_TEXT)
    else:
        raise ValidationError("kind", f"must be number, xy or text, got {kind!r}")
    clean_payload = _check_payload({} if payload is None else payload)
    ts = time.time() if timestamp is None else _check_timestamp(timestamp)
    return Event(
        name=clean_name,
        kind=kind,  # type: ignore[arg-type]
        value=clean_value,
        payload=clean_payload,
        timestamp=ts,
        session_id=(_check_text("session_id", session_id, 64, strict=True) if session_id
                    else uuid4_text()),
        id=_check_text("id", event_id, 64, strict=True) if event_id else uuid4_hex(),
    )
