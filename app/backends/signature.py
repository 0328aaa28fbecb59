"""KeyManager's signed response envelope: the one function that checks it.

The envelope is ``{"response": {...}, "response_base64": "...", "private_key_used": ...,
"signature": "..."}``. The signature is RSA PKCS#1 v1.5 with SHA-256 over the
``response_base64`` *text exactly as received* (its ASCII bytes) — not over the decoded JSON and
not over a re-serialised envelope. The spec's two example envelopes verify this way.

Disagreement noted: the public KeyManager SDKs (PHP, JS, Laravel) rebuild JSON from the
``response`` object and verify that; it cannot match the documented envelopes, so we follow the
documentation. The answer is then read from the decoded ``response_base64`` only: the plain
``response`` object is not covered by the signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import TYPE_CHECKING

from app.model.wire import SignatureStatus

if TYPE_CHECKING:  # cryptography is imported when a signature is checked, not at rest
    from cryptography.hazmat.primitives.asymmetric import rsa


@functools.lru_cache(maxsize=8)
def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """Parse a PEM public key (once per key); raises ``ValueError`` when it is not RSA."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the KeyManager public key must be an RSA key")
    return key


def verify_envelope(response_base64: str, signature: str, public_key_pem: bytes) -> SignatureStatus:
    """Check ``signature`` over the ASCII bytes of ``response_base64``.

    Returns UNSIGNED when ``signature`` is not base64 at all (the server says e.g.
    ``Private key not set``), INVALID when it is a signature that does not verify.
    """
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return SignatureStatus.UNSIGNED
    if not raw:
        return SignatureStatus.UNSIGNED
    try:
        data = response_base64.encode("ascii")
    except UnicodeEncodeError:
        return SignatureStatus.INVALID
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        load_public_key(public_key_pem).verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return SignatureStatus.INVALID
    return SignatureStatus.VALID


def sign_envelope(response_base64: str, private_key: rsa.RSAPrivateKey) -> str:
    """The signature a KeyManager server puts next to ``response_base64`` (for the receiver)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    raw = private_key.sign(response_base64.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")
