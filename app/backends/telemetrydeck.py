"""TelemetryDeck signals, as TelemetryDeck "Ingest API v2" documents them.

A JSON array of at most 100 signals per POST, ``Content-Type: application/json;
charset=utf-8``. ``clientUser`` is the lowercase hex SHA-256 of (user_identifier + salt), the
formula the official SDKs use, so the raw identifier never leaves the machine.

Value mapping: a number goes to ``payload.floatValue`` as a JSON number (the spec's one special
payload value); an (x, y) pair to ``Value.x``/``Value.y`` and a text to ``Value.text`` (plain
payload dimensions, which the server stores as strings).

Disagreement noted: the spec lists ``receivedAt`` only among the *forbidden payload* keys; the
official SDKs send it as a top-level property (ISO-8601 UTC), which is what we do. It is never put
in the payload.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app import APP_ID, __version__
from app.backends.base import looks_like_html, retry_after_seconds
from app.model.event import Event
from app.model.text import printable
from app.model.wire import HttpResponse, Outcome, PreparedRequest, SendContext, Verdict

MAX_SIGNALS = 100
USER_AGENT = f"{APP_ID}/{__version__}"
REJECTED_FOR_GOOD = {400, 422}  # the request itself is refused: sending it again cannot help
# The server refuses this app or this URL, whatever we send: a configuration problem. Sending
# stops with the events kept until the vendor's configuration (or the server) is mended.
BLOCKED_BY_SETUP = {
    401: "TelemetryDeck does not accept this app ID; check [telemetrydeck] app_id",
    403: "TelemetryDeck does not accept this app ID; check [telemetrydeck] app_id",
    404: "no TelemetryDeck ingest API at this URL; check [telemetrydeck] url",
}


def client_user(user_identifier: str, salt: str) -> str:
    """The hash TelemetryDeck stores instead of the user: sha256(user_identifier + salt)."""
    return hashlib.sha256((user_identifier + salt).encode("utf-8")).hexdigest()


def iso_utc(timestamp: float) -> str:
    """``2026-11-23T16:09:50.123Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TelemetryDeckBackend:
    """Builds and interprets TelemetryDeck ingest requests.

    Args:
        url: the ingest endpoint (default ``https://nom.telemetrydeck.com/v2/``).
        app_id: TelemetryDeck ``appID``.
        salt: mixed into ``clientUser``.
        test_mode: sent as ``isTestMode``.
    """

    name = "telemetrydeck"
    title = "TelemetryDeck"
    needs_license = False  # whether requests carry the license key
    max_batch = MAX_SIGNALS

    def __init__(self, url: str, app_id: str, salt: str = "", test_mode: bool = False) -> None:
        self.url = url
        self.app_id = app_id
        self.salt = salt
        self.test_mode = test_mode

    def signal(self, event: Event, ctx: SendContext) -> dict[str, Any]:
        """One signal object."""
        payload: dict[str, Any] = dict(event.payload)
        if event.kind == "number":
            payload["floatValue"] = event.value
        elif event.kind == "xy":
            assert isinstance(event.value, tuple)
            payload["Value.x"], payload["Value.y"] = event.value
        else:
            payload["Value.text"] = event.value
        return {
            "appID": self.app_id,
            "clientUser": client_user(ctx.user_identifier, self.salt),
            "type": event.name,
            "sessionID": event.session_id,
            "isTestMode": self.test_mode,
            "receivedAt": iso_utc(event.timestamp),
            "payload": payload,
        }

    def prepare(self, batch: Sequence[Event], ctx: SendContext) -> list[PreparedRequest]:
        """One POST per 100 signals."""
        headers = (
            ("Content-Type", "application/json; charset=utf-8"),
            ("User-Agent", USER_AGENT),
        )
        requests = []
        for start in range(0, len(batch), MAX_SIGNALS):
            chunk = batch[start : start + MAX_SIGNALS]
            body = json.dumps(
                [self.signal(event, ctx) for event in chunk],
                ensure_ascii=False,
                separators=(",", ":"),
                allow_nan=False,
            ).encode("utf-8")
            requests.append(
                PreparedRequest(
                    backend=self.name,
                    method="POST",
                    url=self.url,
                    headers=headers,
                    body=body,
                    event_ids=tuple(event.id for event in chunk),
                )
            )
        return requests

    def interpret(self, request: PreparedRequest, response: HttpResponse) -> Outcome:
        """2xx delivered (unless it is an HTML page), 413 split, 401/403/404 stop sending (the
        setup is wrong; events kept), 400/422 refused for good, the rest retried."""
        status = response.status
        if 200 <= status < 300:
            if looks_like_html(response):
                return Outcome(Verdict.RETRY, f"HTTP {status}: an HTML page instead of the ingest "
                               "API (a proxy or captive portal?)", status)
            return Outcome(Verdict.DELIVERED, f"HTTP {status}", status)
        detail = _short_body(response)
        if status == 413:
            return Outcome(Verdict.SPLIT, "HTTP 413: batch too large", status)
        if status in BLOCKED_BY_SETUP:
            why = f"{detail} ({BLOCKED_BY_SETUP[status]})" if detail else BLOCKED_BY_SETUP[status]
            return Outcome(Verdict.BLOCKED, f"HTTP {status}: {why}; the events are kept", status)
        if status in REJECTED_FOR_GOOD:
            return Outcome(Verdict.REJECTED, f"HTTP {status}: {detail}".rstrip(": "), status)
        return Outcome(Verdict.RETRY, f"HTTP {status}: {detail}".rstrip(": "), status,
                       retry_after=retry_after_seconds(response))

    def __repr__(self) -> str:
        return f"TelemetryDeckBackend({self.url!r})"


def _short_body(response: HttpResponse) -> str:
    if looks_like_html(response):
        return "an HTML page"
    text = response.body[:200].decode("utf-8", "replace").strip()
    return printable(" ".join(text.split()))  # the server's words, shown as text
