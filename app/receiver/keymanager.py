"""A local KeyManager: ``POST /api/v1/send-telemetry-data`` and verify/activate/deactivate.

It validates "to the letter" of KeyManager "Send Telemetry" (the parameter table, the 830/831
examples and their signed envelopes), so a request that passes here is one the real service has
no reason to refuse. Choices that document leaves open, stated once: ``Accept: application/json``
is required (406 otherwise); bodies may be form-encoded or JSON (the server is Laravel-style and
takes both; the record says which); an empty field counts as missing (Laravel converts empty
strings to null); extra fields are ignored but noted. A missing or (when configured) unknown
``api_key`` is HTTP 401 with code 100.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.backends.signature import sign_envelope
from app.receiver.faults import BadSignature, Behaviour, Unsigned
from app.receiver.records import License, RecordedRequest, Reply, Validation
from app.receiver.server import Receiver

KEYMANAGER = "keymanager"
TELEMETRY_PATH = "/api/v1/send-telemetry-data"
VERIFY_PATH = "/api/v1/verify"
ACTIVATE_PATH = "/api/v1/activate"
DEACTIVATE_PATH = "/api/v1/deactivate"
DATA_TYPES = ("numeric-single-value", "numeric-xy-axis", "text")
UNSIGNED_TEXT = "Private key not set"

# PHP's is_numeric (what Laravel's "numeric" rule uses): optional surrounding whitespace, sign,
# digits with an optional fraction, optional exponent. No hex, no NaN/INF.
_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")

_OPERATIONS = {VERIFY_PATH: "verify", ACTIVATE_PATH: "activate", DEACTIVATE_PATH: "deactivate"}


def _lenient_fields(body: bytes) -> dict[str, Any]:
    """Best-effort fields of a body nobody validated (a scripted fault answered it)."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return dict(parse_qsl(text, keep_blank_values=True))
    return data if isinstance(data, dict) else {}


def _human(name: str) -> str:
    return name.replace("_", " ")


def _required(name: str) -> str:
    return f"The {_human(name)} field is required."


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 test key (the documentation's own key is 2048-bit)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    """The PEM (SubjectPublicKeyInfo) a vendor would paste into ``[keymanager] public_key``."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def make_envelope(
    response: Mapping[str, Any],
    private_key: rsa.RSAPrivateKey,
    *,
    private_key_used: str = "product",
    signature: str | None = None,
) -> dict[str, Any]:
    """The signed envelope a KeyManager server answers with.

    ``response_base64`` is the compact JSON of ``response`` (ASCII-escaped, as PHP's
    json_encode does) and the signature is over that base64 text, as in the examples of
    KeyManager "Send Telemetry".

    Args:
        signature: override the signature text (for ``Unsigned``/``BadSignature``).
    """
    encoded = base64.b64encode(
        json.dumps(response, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    ).decode("ascii")
    return {
        "response": dict(response),
        "response_base64": encoded,
        "private_key_used": private_key_used,
        "signature": signature if signature is not None else sign_envelope(encoded, private_key),
    }


def _corrupt(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


class KeyManagerReceiver(Receiver):
    """A local KeyManager: the telemetry endpoint and verify/activate/deactivate.

    Args:
        host: address to bind (127.0.0.1).
        port: 0 picks a free port.
        api_key: when given, any other ``api_key`` is HTTP 401 code 100; when None any non-empty
            key is accepted (a missing one is still 401 code 100).
        private_key: the RSA key that signs answers; a fresh 2048-bit one when None (tests pass
            one in: generating a key costs ~0.1 s).
        private_key_used: the envelope's ``private_key_used`` ("product" or "global").
        product_ids: when given, other ``product_id`` values get "The selected product id is
            invalid." (831, as in the spec's example).
        licenses: license key -> ``License``; the table verify/activate/deactivate use.
        check_license_keys: telemetry with a ``license_key`` not in ``licenses`` is flagged
            831 "The selected license key is invalid." (the spec's "red flag" for pirated copies).
        record: append every request as a JSON line to this file.
        shutdown_timeout: most seconds ``close()`` waits.
    """

    kind = KEYMANAGER

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        private_key: rsa.RSAPrivateKey | None = None,
        private_key_used: str = "product",
        product_ids: Collection[str] | None = None,
        licenses: Mapping[str, License] | None = None,
        check_license_keys: bool = False,
        record: Path | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        super().__init__(host, port, record=record, shutdown_timeout=shutdown_timeout)
        self.api_key = api_key
        self.private_key = private_key if private_key is not None else generate_private_key()
        self.private_key_used = private_key_used
        self.product_ids = set(product_ids) if product_ids is not None else None
        self.licenses: dict[str, License] = dict(licenses or {})
        self.check_license_keys = check_license_keys
        self.clock: Callable[[], float] = time.time

    def __enter__(self) -> KeyManagerReceiver:
        self.start()
        return self

    @property
    def public_key_pem(self) -> bytes:
        """The public half of the signing key, PEM."""
        return public_key_pem(self.private_key)

    @property
    def telemetry_url(self) -> str:
        """The full telemetry endpoint URL."""
        return self.base_url + TELEMETRY_PATH

    def accepted_events(self) -> list[dict[str, str]]:
        """Telemetry events saved as correct (830), as field -> value, oldest first."""
        return self._events_with(830)

    def flagged_events(self) -> list[dict[str, str]]:
        """Telemetry events saved but flagged (831)."""
        return self._events_with(831)

    def _events_with(self, code: int) -> list[dict[str, str]]:
        return [
            dict(r.form)
            for r in self.requests
            if r.path == TELEMETRY_PATH and r.stored and r.code == code
        ]

    def add_license(self, key: str, max_activations: int = 1, *, expired: bool = False) -> None:
        """Put a license in the table (thread-safe)."""
        with self._lock:
            self.licenses[key] = License(max_activations, expired)

    # -- the live line -----------------------------------------------------------------------

    def event_names(self, rec: RecordedRequest) -> list[str]:
        """Telemetry: the event's ``data_group``; license calls: the operation's name."""
        if rec.path in _OPERATIONS:
            return [_OPERATIONS[rec.path]]
        if rec.path != TELEMETRY_PATH:
            return []
        fields = rec.form if isinstance(rec.form, dict) else _lenient_fields(rec.body)
        return [str(fields.get("data_group") or "(no data_group)")]

    def spec_verdict(self, rec: RecordedRequest) -> str:
        """The envelope's code and message; for 831 also which fields were wrong."""
        if rec.code is None:
            return super().spec_verdict(rec)
        try:
            message = str(rec.response_json()["response"]["message"])
        except (ValueError, KeyError, TypeError):
            message = ""
        words = {830: "accepted", 831: "flagged", 100: "refused"}.get(rec.code, "answered")
        text = f"{words} {rec.code} {message}".rstrip()
        if rec.code == 831 and rec.validation is not None:
            text += " (" + ", ".join(rec.validation.errors) + ")"
        return text

    # -- handling ----------------------------------------------------------------------------

    def handle_request(self, rec: RecordedRequest, behaviour: Behaviour | None) -> Reply:
        """Route, check headers and encoding, authenticate, then answer with an envelope."""
        routes = {
            TELEMETRY_PATH: self._telemetry,
            VERIFY_PATH: self._verify,
            ACTIVATE_PATH: self._activate,
            DEACTIVATE_PATH: self._deactivate,
        }
        route = routes.get(rec.path)
        if route is None:
            return Reply(404, json.dumps({"message": "Not Found"}).encode())
        if rec.method != "POST":
            message = f"The {rec.method} method is not supported for route {rec.path[1:]}."
            return Reply(405, json.dumps({"message": message}).encode(), headers={"Allow": "POST"})
        validation = rec.validation = Validation()
        accept = (rec.header("Accept") or "").lower()
        if "application/json" not in accept:
            validation.add("Accept", "The Accept header must be application/json.")
            return Reply(406, b"Accept: application/json is required\n", "text/plain")
        fields = self._parse(rec)
        if fields is None:
            return Reply(415, b"the body must be form-encoded or a JSON object\n", "text/plain")
        api_key = fields.get("api_key", "")
        if not api_key or (self.api_key is not None and api_key != self.api_key):
            validation.add("api_key", "Invalid API key.")
            return self._envelope(rec, behaviour, 401, 100, "Invalid API key", errors=[])
        return route(rec, fields, behaviour)

    def _parse(self, rec: RecordedRequest) -> dict[str, str] | None:
        """Form or JSON body -> field values (last duplicate wins, as PHP does)."""
        assert rec.validation is not None
        ctype = (rec.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            try:
                pairs = parse_qsl(
                    rec.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(rec.body)
                )
            except (UnicodeDecodeError, ValueError) as exc:
                rec.validation.add("body", f"not valid form encoding: {exc}")
                return None
            rec.encoding = "form"
            names = [name for name, _ in pairs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                rec.validation.notes.append(f"duplicate fields (last one used): {dupes}")
            fields = dict(pairs)
        elif ctype == "application/json":
            try:
                data = json.loads(rec.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                rec.validation.add("body", f"not valid JSON: {exc}")
                return None
            if not isinstance(data, dict):
                rec.validation.add("body", "the JSON body must be an object")
                return None
            rec.encoding = "json"
            rec.validation.notes.append("JSON body (the spec documents form fields)")
            fields = {}
            for name, value in data.items():
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    rec.validation.add(name, f"The {_human(name)} field must be a string.")
                    fields[name] = ""
                else:
                    fields[name] = value if isinstance(value, str) else json.dumps(value)
        else:
            rec.validation.add("Content-Type", f"unsupported Content-Type {ctype!r}")
            return None
        rec.form = fields
        return fields

    def _envelope(
        self,
        rec: RecordedRequest,
        behaviour: Behaviour | None,
        status: int,
        code: int,
        message: str,
        **extra: Any,
    ) -> Reply:
        response = {"code": code, "message": message, **extra, "timestamp": int(self.clock())}
        signature: str | None = None
        if isinstance(behaviour, Unsigned):
            signature = UNSIGNED_TEXT
        envelope = make_envelope(
            response,
            self.private_key,
            private_key_used=self.private_key_used,
            signature=signature,
        )
        if isinstance(behaviour, BadSignature):
            envelope["signature"] = _corrupt(envelope["signature"])
        rec.code = code
        return Reply(status, json.dumps(envelope).encode("utf-8"))

    def validate_telemetry(self, fields: Mapping[str, str], validation: Validation) -> None:
        """Apply the spec's parameter table to the fields, Laravel-style messages.

        Error order follows the spec's 831 example (product_id first, data_group last).
        """
        def present(name: str) -> bool:
            return fields.get(name, "").strip() != ""

        product_id = fields.get("product_id", "")
        if not present("product_id"):
            validation.add("product_id", _required("product_id"))
        elif self.product_ids is not None and product_id not in self.product_ids:
            validation.add("product_id", "The selected product id is invalid.")
        for name in ("user_identifier", "license_key", "activation_identifier",
                     "product_version"):
            if not present(name):
                validation.add(name, _required(name))
        license_key = fields.get("license_key", "")
        if present("license_key") and self.check_license_keys:
            with self._lock:
                known = license_key in self.licenses
            if not known:
                validation.add("license_key", "The selected license key is invalid.")
        data_type = fields.get("data_type", "")
        if not present("data_type"):
            validation.add("data_type", _required("data_type"))
        elif data_type not in DATA_TYPES:
            validation.add("data_type", "The selected data type is invalid.")
        needed = {
            "numeric-single-value": ("numeric_data_single_value",),
            "numeric-xy-axis": ("numeric_data_x", "numeric_data_y"),
            "text": ("text_data",),
        }.get(data_type, ())
        for name in needed:
            if not present(name):
                validation.add(
                    name, f"The {_human(name)} field is required when data type is {data_type}."
                )
            elif name.startswith("numeric") and not _NUMERIC.match(fields[name]):
                validation.add(name, f"The {_human(name)} field must be a number.")
        if not present("data_group"):
            validation.add("data_group", _required("data_group"))
        documented = {"api_key", "data_type", "product_id", "user_identifier", "license_key",
                      "activation_identifier", "product_version", "data_group", *needed}
        extra = sorted(set(fields) - documented)
        if extra:
            validation.notes.append(f"fields the server ignores here: {extra}")

    def _telemetry(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        assert rec.validation is not None
        self.validate_telemetry(fields, rec.validation)
        rec.stored = True  # 830 and 831 are both "data saved"
        if rec.validation.ok:
            return self._envelope(rec, behaviour, 200, 830, "Correct format data saved",
                                  errors=[])
        return self._envelope(rec, behaviour, 200, 831, "Incorrect format data saved",
                              errors=rec.validation.errors)

    def _license_args(
        self, rec: RecordedRequest, fields: Mapping[str, str], behaviour: Behaviour | None
    ) -> tuple[License | None, str, Reply | None]:
        """The license and identifier, or the 215/210 answer when one is missing or unknown."""
        assert rec.validation is not None
        identifier = fields.get("identifier", "").strip()
        key = fields.get("license_key", "").strip()
        if not identifier:
            rec.validation.add("identifier", _required("identifier"))
            return None, "", self._envelope(rec, behaviour, 200, 215, "Identifier is required")
        with self._lock:
            lic = self.licenses.get(key)
        if lic is None:
            rec.validation.add("license_key", "Invalid license key.")
            return None, "", self._envelope(rec, behaviour, 200, 210, "Invalid license key")
        return lic, identifier, None

    def _verify(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        lic, identifier, early = self._license_args(rec, fields, behaviour)
        if early is not None or lic is None:
            return early or Reply(500)
        with self._lock:
            expired, active = lic.expired, identifier in lic.activations
        if expired:
            return self._envelope(rec, behaviour, 200, 205, "License key expired")
        if not active:
            return self._envelope(rec, behaviour, 200, 202,
                                  "No activation found for this license key and identifier")
        return self._envelope(rec, behaviour, 200, 200, "License key is valid")

    def _activate(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        lic, identifier, early = self._license_args(rec, fields, behaviour)
        if early is not None or lic is None:
            return early or Reply(500)
        with self._lock:
            if lic.expired:
                outcome = (205, "License key expired")
            elif identifier in lic.activations:
                outcome = (301, "License key already active for this identifier")
            elif len(lic.activations) >= lic.max_activations:
                outcome = (302, "Activation limit reached")
            else:
                lic.activations.add(identifier)
                rec.stored = True
                outcome = (300, "License key activated")
        return self._envelope(rec, behaviour, 200, *outcome)

    def _deactivate(
        self, rec: RecordedRequest, fields: dict[str, str], behaviour: Behaviour | None
    ) -> Reply:
        lic, identifier, early = self._license_args(rec, fields, behaviour)
        if early is not None or lic is None:
            return early or Reply(500)
        with self._lock:
            if identifier in lic.activations:
                lic.activations.discard(identifier)
                rec.stored = True
                outcome = (400, "License key deactivated")
            else:
                outcome = (401, "License key already inactive for this identifier")
        return self._envelope(rec, behaviour, 200, *outcome)
