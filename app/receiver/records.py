"""What a receiver keeps of each request, and what a handler answers.

Plain dataclasses, no sockets: the record is what tests and vendors inspect afterwards, and what
``--record`` writes as one JSON line per request.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from app.receiver.faults import Behaviour


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
        saved: what the service would store, when that differs from ``form`` (TelemetryDeck
            renames reserved payload keys); None means ``form`` as received.
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
    saved: Any = None

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
            "saved": self.saved,
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
