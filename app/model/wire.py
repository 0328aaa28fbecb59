"""What crosses the wire: a prepared request, the response, and what it meant.

Backends turn events into ``PreparedRequest`` objects and responses into an ``Outcome``; both
halves are pure, so the preview, the sender and the tests all use the very same code.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MASK = "•"


def mask_secret(secret: str) -> str:
    """``9cc2cc83-…-f0e1c1eb1541`` -> ``9cc2…1541``: enough to recognise, not enough to use.

    Keys shorter than 16 characters show nothing (8 of 12 characters would be most of the key);
    the mask never tells the length either.
    """
    if not secret:
        return ""
    if len(secret) < 16:
        return MASK * 8
    return f"{secret[:4]}…{secret[-4:]}"


@dataclass(frozen=True)
class SendContext:
    """Who is sending, attached at send time; never stored with the events.

    ``license_key`` and ``api_key`` are secrets: ``masked()`` gives the copy the preview shows.
    """

    user_identifier: str
    activation_identifier: str
    license_key: str = ""
    api_key: str = ""

    def masked(self) -> SendContext:
        """The same context with the secrets replaced by their masked forms."""
        return SendContext(
            user_identifier=self.user_identifier,
            activation_identifier=self.activation_identifier,
            license_key=mask_secret(self.license_key),
            api_key=mask_secret(self.api_key),
        )

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return (
            f"SendContext(user_identifier={self.user_identifier!r}, "
            f"activation_identifier={self.activation_identifier!r}, "
            f"license_key={mask_secret(self.license_key)!r}, api_key={mask_secret(self.api_key)!r})"
        )


@dataclass(frozen=True)
class PreparedRequest:
    """An exact HTTP request: what the sender sends and the preview shows, byte for byte."""

    backend: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    event_ids: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def __repr__(self) -> str:  # the body may carry secrets
        return (
            f"PreparedRequest({self.backend} {self.method} {self.url}, "
            f"{len(self.event_ids)} events, {len(self.body)} bytes)"
        )


@dataclass(frozen=True)
class HttpResponse:
    """A response as received; headers keyed in lower case."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.body.decode("utf-8"))


class Verdict(enum.Enum):
    """What the sender does with the events of a request after the answer."""

    DELIVERED = "delivered"  # confirmed: remove from the outbox
    FLAGGED = "flagged"  # stored by the server but flagged (KeyManager 831): remove, keep errors
    REJECTED = "rejected"  # refused for good (e.g. TelemetryDeck 400): remove, record it
    RETRY = "retry"  # transient: keep, try again after a backoff
    BLOCKED = "blocked"  # our credentials/config are wrong: keep, stop this backend, tell the user
    SPLIT = "split"  # too large (413): keep, resend in smaller batches

    @property
    def removes_events(self) -> bool:
        """Whether the events leave the outbox after this verdict."""
        return self in (Verdict.DELIVERED, Verdict.FLAGGED, Verdict.REJECTED)


class SignatureStatus(enum.Enum):
    """The result of checking a KeyManager response signature."""

    VALID = "valid"
    INVALID = "invalid"  # a signature was given and does not verify: a security warning
    UNSIGNED = "unsigned"  # the server signed nothing (e.g. "Private key not set")
    NOT_CHECKED = "not-checked"  # no public key configured
    NOT_APPLICABLE = "n/a"  # backend without signatures


@dataclass(frozen=True)
class Outcome:
    """What a response (or a failure to get one) means for the events that were sent."""

    verdict: Verdict
    message: str
    http_status: int | None = None
    code: int | None = None
    errors: Mapping[str, Any] | None = None
    retry_after: float | None = None
    signature: SignatureStatus = SignatureStatus.NOT_APPLICABLE

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for history and ``--json`` output."""
        return {
            "verdict": self.verdict.value,
            "message": self.message,
            "http_status": self.http_status,
            "code": self.code,
            "errors": dict(self.errors) if self.errors else None,
            "retry_after": self.retry_after,
            "signature": self.signature.value,
        }
