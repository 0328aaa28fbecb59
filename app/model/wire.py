"""What crosses the wire: a prepared request, the response, and what it meant.

Backends turn events into ``PreparedRequest`` objects and responses into an ``Outcome``; both
halves are pure, so the preview, the sender and the tests all use the very same code.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote_plus, unquote_plus

MASK = "•"


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in it masked: a server that echoes the key (in an error
    message) must not put it into the history."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, mask_secret(secret))
    return text


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

    @property
    def secrets(self) -> frozenset[str]:
        """The values a request must never show in clear outside the wire (the empty ones are
        no secret)."""
        return frozenset(s for s in (self.license_key, self.api_key) if s)

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
    """An exact HTTP request: what the sender sends and the preview shows, byte for byte.

    One object seen at three moments: the preview shows it (``masked`` unless the user reveals
    the secrets), the sender sends it as it is, and the history keeps its ``masked`` form.
    """

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

    def masked(self, secrets: Collection[str]) -> PreparedRequest:
        """The same request with every field whose value is a secret shown as ``mask_secret``.

        Only whole values are replaced (a form field, a JSON string), never a piece of another
        value, so a short key cannot blot out part of an event's number or text; the rest stays
        byte for byte.

        Args:
            secrets: the values to hide (``SendContext.secrets``).
        """
        hidden = {s for s in secrets if s}
        if not hidden:
            return self
        ctype = (self.header("content-type") or "").lower()
        if "x-www-form-urlencoded" in ctype:
            body = _mask_form(self.body, hidden)
        elif "json" in ctype:
            body = _mask_json(self.body, hidden)
        else:
            body = self.body
            for secret in sorted(hidden, key=len, reverse=True):
                body = body.replace(secret.encode("utf-8"), mask_secret(secret).encode("utf-8"))
        headers = tuple((k, mask_secret(v) if v in hidden else v) for k, v in self.headers)
        return replace(self, headers=headers, body=body)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the history's stored copy, ``history --json``; ``preview --json``
        shows the same keys). Headers as an object, in order: a request never repeats one."""
        return {
            "backend": self.backend,
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8"),
            "event_ids": list(self.event_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreparedRequest:
        """Rebuild from ``to_dict`` output.

        Raises:
            ValueError: the data is not a request in that form.
        """
        try:
            return cls(
                backend=str(data["backend"]),
                method=str(data["method"]),
                url=str(data["url"]),
                headers=tuple((str(k), str(v)) for k, v in dict(data["headers"]).items()),
                body=str(data["body"]).encode("utf-8"),
                event_ids=tuple(str(i) for i in data.get("event_ids", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored request: {exc}") from None

    def __repr__(self) -> str:  # the body may carry secrets
        return (
            f"PreparedRequest({self.backend} {self.method} {self.url}, "
            f"{len(self.event_ids)} events, {len(self.body)} bytes)"
        )


def _mask_form(body: bytes, secrets: Collection[str]) -> bytes:
    """Mask the form fields whose whole value is a secret; other fields keep their bytes."""
    parts = []
    for part in body.split(b"&"):
        key, sep, value = part.partition(b"=")
        if sep:
            plain = unquote_plus(value.decode("ascii", "replace"))
            if plain in secrets:
                value = quote_plus(mask_secret(plain)).encode("ascii")
        parts.append(key + sep + value)
    return b"&".join(parts)


def _mask_json(body: bytes, secrets: Collection[str]) -> bytes:
    """Mask the JSON strings that are exactly a secret, however the encoder escaped them."""
    for secret in sorted(secrets, key=len, reverse=True):
        for ascii_only in (False, True):
            old = json.dumps(secret, ensure_ascii=ascii_only).encode("utf-8")
            new = json.dumps(mask_secret(secret), ensure_ascii=ascii_only).encode("utf-8")
            body = body.replace(old, new)
    return body


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
