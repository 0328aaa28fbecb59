"""A local TelemetryDeck ingest endpoint, as TelemetryDeck "Ingest API v2" describes it.

Strictness where that document leaves room, stated once: ``Content-Type`` must be
``application/json`` with ``charset=utf-8`` (415 otherwise, configurable); unknown top-level keys,
nested payload values, duplicate JSON keys and NaN/Infinity are all 400. ``receivedAt`` is
tolerated as a top-level ISO-8601 string: the document only forbids it inside the payload, and the
official SDKs send it. Where the document says what the service does, the receiver does the same:
a reserved payload key (``count``, ``type``...) is not refused but stored with a leading
underscore (``count`` -> ``_count``), and the record and the live line say so.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from app.receiver.faults import Behaviour
from app.receiver.records import RecordedRequest, Reply, Validation
from app.receiver.server import Receiver, first_error

TELEMETRYDECK = "telemetrydeck"
TD_DEFAULT_PATH = "/v2/"
TD_MAX_SIGNALS = 100
TD_RESERVED_PAYLOAD_KEYS = frozenset(
    {"count", "type", "appID", "clientUser", "__time", "payload", "platform", "receivedAt"}
)
TD_REQUIRED = ("appID", "clientUser", "type")
TD_OPTIONAL = ("sessionID", "isTestMode", "payload", "receivedAt")
RENAMED_NOTE = "reserved key, stored as "  # + the new name; the live line looks for it
_NAMES_SHOWN = 5


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


class TelemetryDeckReceiver(Receiver):
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
            if rec.stored and isinstance(rec.saved, list):
                events.extend(rec.saved)
        return events

    def event_names(self, rec: RecordedRequest) -> list[str]:
        """The signals' ``type`` values (the first few, then how many more)."""
        signals = rec.form
        if signals is None:  # a scripted fault answered before the body was read as JSON
            try:
                signals = json.loads(rec.body.decode("utf-8", "replace"))
            except ValueError:
                return []
        if not isinstance(signals, list):
            return []
        names = [str(s.get("type", "?")) if isinstance(s, dict) else "?" for s in signals]
        if len(names) > _NAMES_SHOWN:
            names = [*names[:_NAMES_SHOWN], f"... (+{len(names) - _NAMES_SHOWN} more)"]
        return names

    def spec_verdict(self, rec: RecordedRequest) -> str:
        """Accepted (with any renamed payload key) or refused with the first problem."""
        validation = rec.validation
        if validation is None:
            return super().spec_verdict(rec)
        if not rec.stored:
            return "refused: " + (first_error(rec) or "see the record")
        count = len(rec.saved) if isinstance(rec.saved, list) else 0
        text = f"accepted {count} signal" + ("" if count == 1 else "s")
        renamed = [note for note in validation.notes if RENAMED_NOTE in note]
        if renamed:
            text += "; " + "; ".join(renamed)
        return text

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
        rec.saved = [stored_signal(signal) for signal in data]
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
                validation.notes.append(f"{here}: {RENAMED_NOTE}_{key}")
            if isinstance(value, dict | list):
                validation.add(here, "must be a primitive (no nested objects or arrays)")
            elif key == "floatValue" and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                validation.add(here, "floatValue must be a JSON number")


def stored_signal(signal: dict[str, Any]) -> dict[str, Any]:
    """The signal as the service keeps it: reserved payload keys get a leading underscore.

    TelemetryDeck "Ingest API v2": "If you use them, we'll rename them on the server for you by
    prepending an underscore."
    """
    payload = signal.get("payload")
    if not isinstance(payload, dict) or not TD_RESERVED_PAYLOAD_KEYS & payload.keys():
        return signal
    renamed = {
        (f"_{key}" if key in TD_RESERVED_PAYLOAD_KEYS else key): value
        for key, value in payload.items()
    }
    return {**signal, "payload": renamed}
