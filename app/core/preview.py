"""Turns prepared requests into what the user reads: exact text plus a readable form."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from app.model.wire import PreparedRequest

# Plain-words meaning of the fields a user sees in the preview.
FIELD_MEANINGS = {
    "api_key": "the vendor's key for its server (the same for every user; masked)",
    "license_key": "your license key (masked unless you reveal it)",
    "user_identifier": "a random-looking code that stays the same for you on this computer; it "
    "does not contain your name or the computer's id",
    "activation_identifier": "a code for this computer's activation of your license, made the "
    "same way; it does not contain the computer's id",
    "clientUser": "a one-way hash of your user_identifier; it cannot be turned back into it",
    "product_id": "which product this is",
    "product_version": "which version of the product you run",
    "data_group": "the name of the event",
    "type": "the name of the event",
    "data_type": "the kind of value: a number, a pair of numbers, or a text",
    "sessionID": "a random id for this run of the app, new every start",
    "appID": "the vendor's TelemetryDeck app",
    "isTestMode": "whether this is test data",
    "receivedAt": "when the event happened (UTC)",
    "payload": "extra details of the event",
}


def body_text(request: PreparedRequest) -> str:
    """The body exactly as sent, as text."""
    return request.body.decode("utf-8")


def pretty_body(request: PreparedRequest) -> str:
    """A readable form of the body: JSON indented, form fields one per line."""
    ctype = (request.header("content-type") or "").lower()
    text = body_text(request)
    if "json" in ctype:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:  # e.g. a damaged stored copy: show it as it is
            return text
    if "x-www-form-urlencoded" in ctype:
        return "\n".join(f"{k} = {v}" for k, v in parse_qsl(text, keep_blank_values=True))
    return text


def describe(request: PreparedRequest) -> dict[str, Any]:
    """The request as plain data (``preview --json``, the consent window): the keys the
    history keeps (``PreparedRequest.to_dict``) but the event ids, plus a readable body."""
    data = request.to_dict()
    del data["event_ids"]
    return {**data, "body_pretty": pretty_body(request), "events": len(request.event_ids)}


def render(request: PreparedRequest) -> str:
    """The request as a person reads it: request line, headers, blank line, readable body."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{k}: {v}" for k, v in request.headers]
    lines += ["", pretty_body(request)]
    return "\n".join(lines)
