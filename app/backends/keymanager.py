"""KeyManager ``POST /api/v1/send-telemetry-data``, as KeyManager "Send Telemetry" documents it.

One form-encoded request per event, ``Accept: application/json``. Every parameter of the
spec's table is sent: the ones it calls "optional" are rejected in practice (its own 831 example
lists them as required), so an empty license key is sent as an empty field, never left out and
never invented.

Response codes: 830 saved; 831 saved but flagged (errors recorded, not resent); 100-103
(HTTP 401) and 150 (HTTP 403) mean our API key/config is wrong: stop this backend, keep events.
Disagreement noted: the SDKs post JSON to ``/v1/send-telemetry``; the spec's path and form
fields win.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from app import APP_ID, __version__
from app.backends.base import looks_like_html, retry_after_seconds
from app.backends.signature import verify_envelope
from app.model.event import Event
from app.model.text import printable
from app.model.wire import (
    HttpResponse,
    Outcome,
    PreparedRequest,
    SendContext,
    SignatureStatus,
    Verdict,
)

TELEMETRY_PATH = "/api/v1/send-telemetry-data"
VERIFY_PATH = "/api/v1/verify"
ACTIVATE_PATH = "/api/v1/activate"
DEACTIVATE_PATH = "/api/v1/deactivate"
LICENSE_PATHS = {"verify": VERIFY_PATH, "activate": ACTIVATE_PATH, "deactivate": DEACTIVATE_PATH}
USER_AGENT = f"{APP_ID}/{__version__}"
DATA_TYPES = {"number": "numeric-single-value", "xy": "numeric-xy-axis", "text": "text"}
AUTH_CODES = {
    100: "invalid API key",
    101: "the API key is inactive",
    102: "the API key lacks the telemetry permission",
    103: "the API key is not allowed from this IP address",
    150: "access denied",
}


def format_number(value: float) -> str:
    """Numbers are text fields: ``50`` rather than ``50.0``, full precision otherwise."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


class KeyManagerBackend:
    """Builds and interprets KeyManager telemetry requests.

    Args:
        url: base URL; requests go to ``{url}/api/v1/send-telemetry-data``.
        product_id: KeyManager ``product_id``.
        product_version: sent as ``product_version``.
        public_key_pem: when given, every response must carry a valid signature.
    """

    name = "keymanager"
    title = "KeyManager"
    needs_license = True  # whether requests carry the license key
    max_batch = 20  # requests built per round; KeyManager takes one event per request

    def __init__(
        self,
        url: str,
        product_id: str,
        product_version: str,
        public_key_pem: bytes | None = None,
    ) -> None:
        self.url = url.rstrip("/") + TELEMETRY_PATH
        self.product_id = product_id
        self.product_version = product_version
        self.public_key_pem = public_key_pem

    def fields(self, event: Event, ctx: SendContext) -> list[tuple[str, str]]:
        """The form fields for one event, in the spec's order."""
        fields = [("api_key", ctx.api_key), ("data_type", DATA_TYPES[event.kind])]
        if event.kind == "number":
            assert isinstance(event.value, float)
            fields.append(("numeric_data_single_value", format_number(event.value)))
        elif event.kind == "xy":
            assert isinstance(event.value, tuple)
            fields.append(("numeric_data_x", format_number(event.value[0])))
            fields.append(("numeric_data_y", format_number(event.value[1])))
        else:
            assert isinstance(event.value, str)
            fields.append(("text_data", event.value))
        fields += [
            ("product_id", self.product_id),
            ("user_identifier", ctx.user_identifier),
            ("license_key", ctx.license_key),
            ("activation_identifier", ctx.activation_identifier),
            ("product_version", self.product_version),
            ("data_group", event.name),
        ]
        return fields

    def prepare(self, batch: Sequence[Event], ctx: SendContext) -> list[PreparedRequest]:
        """One form-encoded POST per event."""
        headers = (
            ("Accept", "application/json"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("User-Agent", USER_AGENT),
        )
        return [
            PreparedRequest(
                backend=self.name,
                method="POST",
                url=self.url,
                headers=headers,
                body=urlencode(self.fields(event, ctx)).encode("ascii"),
                event_ids=(event.id,),
            )
            for event in batch
        ]

    def interpret(self, request: PreparedRequest, response: HttpResponse) -> Outcome:
        """Read the (signed) envelope; only a verified 830/831 counts as delivered."""
        return interpret_envelope(response, self.public_key_pem, telemetry_verdict)

    def __repr__(self) -> str:
        return f"KeyManagerBackend({self.url!r})"


def telemetry_verdict(code: int, message: str, errors: Any) -> Verdict | None:
    """830 saved, 831 saved but flagged; anything else is not a telemetry confirmation."""
    if code == 830:
        return Verdict.DELIVERED
    if code == 831:
        return Verdict.FLAGGED
    return None


def read_envelope(
    body: Mapping[str, Any], public_key_pem: bytes | None
) -> tuple[dict[str, Any] | None, SignatureStatus, str]:
    """The answer inside an envelope, the signature status, and a reason when unusable.

    With a public key the answer is read from ``response_base64`` only, and only when the
    signature verifies; without one, from ``response_base64`` when it decodes, else ``response``.
    """
    encoded = body.get("response_base64")
    signature = body.get("signature")
    inner: dict[str, Any] | None = None
    if isinstance(encoded, str):
        try:
            decoded = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
            inner = decoded if isinstance(decoded, dict) else None
        except (binascii.Error, ValueError, UnicodeDecodeError):
            inner = None
    if public_key_pem is None:
        if inner is None and isinstance(body.get("response"), dict):
            inner = body["response"]
        return inner, SignatureStatus.NOT_CHECKED, "" if inner else "no answer in the envelope"
    if not isinstance(encoded, str) or not isinstance(signature, str):
        return None, SignatureStatus.UNSIGNED, "the response is not signed"
    status = verify_envelope(encoded, signature, public_key_pem)
    if status is SignatureStatus.UNSIGNED:
        return None, status, f"the response is not signed (signature: {signature[:40]!r})"
    if status is SignatureStatus.INVALID:
        return None, status, "the response signature does not match the configured public key"
    if inner is None:
        return None, status, "the signed response_base64 is not a JSON object"
    return inner, status, ""


def response_code(inner: Mapping[str, Any]) -> int | None:
    """``code`` as an int; some examples send it as a string ("400")."""
    code = inner.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def interpret_envelope(
    response: HttpResponse,
    public_key_pem: bytes | None,
    classify: Callable[[int, str, Any], Verdict | None],
) -> Outcome:
    """Shared reading of a KeyManager answer; ``classify(code, message, errors)`` maps its codes.

    The license endpoints (verify/activate/deactivate) use the same reading with their own
    codes (``KeyManagerLicense.interpret``).
    """
    return _read_answer(response, public_key_pem, classify)[0]


def _read_answer(
    response: HttpResponse,
    public_key_pem: bytes | None,
    classify: Callable[[int, str, Any], Verdict | None],
) -> tuple[Outcome, str]:
    """The outcome, and the server's own message ("" when no usable answer carried one)."""
    status = response.status
    retry_after = retry_after_seconds(response)
    if status == 429 or status == 408 or status >= 500:
        return Outcome(Verdict.RETRY, f"HTTP {status} from KeyManager", status,
                       retry_after=retry_after), ""
    if looks_like_html(response):
        return Outcome(Verdict.RETRY, f"HTTP {status}: an HTML page instead of the API "
                       "(a proxy or captive portal?)", status), ""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        if status in (401, 403):
            return Outcome(Verdict.BLOCKED, f"HTTP {status}: KeyManager refused our credentials",
                           status), ""
        if status == 404:
            return Outcome(Verdict.BLOCKED, "HTTP 404: no KeyManager API at this URL; check "
                           "[keymanager] url", status), ""
        return Outcome(Verdict.RETRY, f"HTTP {status}: the answer is not a KeyManager envelope",
                       status), ""
    inner, signature, problem = read_envelope(body, public_key_pem)
    if inner is None:
        return Outcome(Verdict.RETRY, f"HTTP {status}: {problem}", status, signature=signature), ""
    code = response_code(inner)
    message = printable(str(inner.get("message") or ""))  # the server's words, shown as text
    errors = inner.get("errors") or None
    if code in AUTH_CODES:
        return Outcome(Verdict.BLOCKED, f"{code} {message or AUTH_CODES[code]}".strip(), status,
                       code=code, signature=signature), message
    verdict = classify(code, message, errors) if code is not None else None
    details = errors if isinstance(errors, dict) else None
    if verdict is not None:
        return Outcome(verdict, f"{code} {message}".strip(), status, code=code, errors=details,
                       signature=signature), message
    if status in (400, 422):
        return Outcome(Verdict.REJECTED, f"HTTP {status}: {code} {message}".strip(), status,
                       code=code, errors=details, signature=signature), message
    if status in (401, 403, 404):
        return Outcome(Verdict.BLOCKED, f"HTTP {status}: {code} {message}".strip(), status,
                       code=code, signature=signature), message
    return Outcome(Verdict.RETRY, f"HTTP {status}: unexpected answer {code} {message}".strip(),
                   status, code=code, signature=signature), message


# action -> (codes meaning "done", codes that are a definitive "no" about this license)
_LICENSE_NO = frozenset({201, 202, 203, 204, 205, 210, 215})
LICENSE_CODES: dict[str, tuple[frozenset[int], frozenset[int]]] = {
    "verify": (frozenset({200}), _LICENSE_NO),
    "activate": (frozenset({300, 301}), _LICENSE_NO | {302}),
    "deactivate": (frozenset({400, 401}), _LICENSE_NO),
}


@dataclass(frozen=True)
class LicenseAnswer:
    """What KeyManager said about the license.

    Attributes:
        outcome: ``DELIVERED`` the action was done; ``REJECTED`` a definitive "no" about this
            license; anything else: no usable answer (``message`` of the outcome says why).
        message: the server's own message ("" when the answer carried none).
    """

    outcome: Outcome
    message: str = ""


class KeyManagerLicense:
    """Builds and reads the license requests: ``POST {url}/api/v1/verify|activate|deactivate``.

    Form fields ``api_key``, ``license_key`` and ``identifier`` (our ``activation_identifier``),
    ``Accept: application/json``; answers read by the same envelope rules as telemetry (with a
    public key the signature must verify, and the answer is read from ``response_base64`` only).
    Codes: verify 200 valid; 201/202/203/204/205/210/215 a "no" shown with the server's message.
    Activate 300/301 done, 302 the limit is reached. Deactivate 400 (also the string "400") / 401
    done. 100-103 and 150 mean the vendor's API key is wrong: no answer about the license.

    Args:
        url: the KeyManager base URL.
        api_key: the vendor's API key.
        public_key_pem: when given, every answer must carry a valid signature.
    """

    name = "keymanager-license"

    def __init__(self, url: str, api_key: str, public_key_pem: bytes | None = None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.public_key_pem = public_key_pem

    def prepare(self, action: str, license_key: str, identifier: str) -> PreparedRequest:
        """The exact request for ``action`` ("verify", "activate" or "deactivate")."""
        fields = [("api_key", self.api_key), ("license_key", license_key),
                  ("identifier", identifier)]
        return PreparedRequest(
            backend=self.name,
            method="POST",
            url=self.url + LICENSE_PATHS[action],
            headers=(
                ("Accept", "application/json"),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("User-Agent", USER_AGENT),
            ),
            body=urlencode(fields).encode("ascii"),
        )

    def interpret(self, action: str, response: HttpResponse) -> LicenseAnswer:
        """What the answer to ``action`` says, with the server's own message."""
        done, refused = LICENSE_CODES[action]

        def classify(code: int, message: str, errors: Any) -> Verdict | None:
            if code in done:
                return Verdict.DELIVERED
            if code in refused:
                return Verdict.REJECTED
            return None

        outcome, message = _read_answer(response, self.public_key_pem, classify)
        return LicenseAnswer(outcome, message)

    def __repr__(self) -> str:
        return f"KeyManagerLicense({self.url!r})"
