"""The interface every backend implements: two pure halves, no I/O.

``prepare`` builds the exact requests (the preview shows them, the sender sends them);
``interpret`` turns a response into an ``Outcome``. The sender owns the network.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from typing import Protocol

from app.model.event import Event
from app.model.wire import HttpResponse, Outcome, PreparedRequest, SendContext


class Backend(Protocol):
    """A telemetry destination.

    Attributes:
        name: stable id ("keymanager", "telemetrydeck") used in the outbox and history.
        title: shown to the user.
        max_batch: most events one ``prepare`` call takes.
        needs_license: whether its requests carry the license key (read from the keyring).
    """

    name: str
    title: str
    url: str
    max_batch: int
    needs_license: bool

    def prepare(self, batch: Sequence[Event], ctx: SendContext) -> list[PreparedRequest]:
        """The exact HTTP requests that deliver ``batch``."""
        ...

    def interpret(self, request: PreparedRequest, response: HttpResponse) -> Outcome:
        """What the response to ``request`` means for its events."""
        ...


def retry_after_seconds(response: HttpResponse, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date); None when absent/bad."""
    value = response.header("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def looks_like_html(response: HttpResponse) -> bool:
    """A captive portal or proxy answering instead of the API."""
    ctype = (response.header("content-type") or "").lower()
    head = response.body[:512].lstrip().lower()
    return "text/html" in ctype or head.startswith((b"<!doctype html", b"<html"))
