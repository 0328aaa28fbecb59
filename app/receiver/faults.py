"""Scripted faults: what the next requests get instead of normal handling.

``rx.script(Hang(3), Respond(500))`` queues behaviours that the following requests consume, one
each. They stand for what a real network does to a client: servers that hang, drop or reset the
connection, captive portals that answer 200 with HTML, a fronting proxy's 413, rate limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CAPTIVE_PORTAL_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome to Guest Wi-Fi</h1><p>Please accept the terms to continue.</p>"
    b"<form method=\"post\"><button>Accept</button></form></body></html>\n"
)
NGINX_413_PAGE = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


# --------------------------------------------------------------------------------------------
# Scripted behaviours
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Respond:
    """Answer with exactly this status, body and headers (no validation, nothing stored)."""

    status: int = 500
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """Read the request, wait ``seconds`` (cut short by shutdown), then close without answering.

    Lets tests prove the client's read timeout fires and the GUI stays responsive meanwhile.
    """

    seconds: float = 30.0


@dataclass(frozen=True)
class Drop:
    """Close the connection without any response; ``reset`` sends a TCP RST instead of a FIN."""

    reset: bool = False


@dataclass(frozen=True)
class Html:
    """Answer with a captive-portal HTML page, as hotel Wi-Fi and proxies do."""

    status: int = 200


@dataclass(frozen=True)
class BadSignature:
    """KeyManager: handle normally (the data is stored) but corrupt the envelope's signature.

    Stands for a man in the middle or a wrong public key. On TelemetryDeck (no signatures) it
    is consumed and the request handled normally.
    """


@dataclass(frozen=True)
class Unsigned:
    """KeyManager: handle normally, signature text ``Private key not set`` (instance signs nothing).

    On TelemetryDeck it is consumed and the request handled normally.
    """


@dataclass(frozen=True)
class TooLarge:
    """Answer 413 as a fronting nginx would, whatever the body was (nothing stored)."""


@dataclass(frozen=True)
class RetryAfter:
    """Answer ``status`` (429 or 503) with ``Retry-After: seconds`` (nothing stored)."""

    status: int = 429
    seconds: int = 30


Behaviour = Respond | Hang | Drop | Html | BadSignature | Unsigned | TooLarge | RetryAfter
