"""What a license key looks like: the rules for the text a user pastes, and nothing else.

Pure validation, so the CLI, the license window and the key store all refuse the same garbage
with the same words before anything touches the keyring or the server.
"""

from __future__ import annotations

import re
import unicodedata

from app.model.errors import ValidationError

MAX_KEY_LENGTH = 512
KEY_LOOKS_LIKE = (
    "a license key is one line of letters and digits, usually with dashes, such as "
    "9cc2cc83-1f5d-4c3e-a7d1-f0e1c1eb1541; copy it from your purchase e-mail or account page"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2}){8,}$")


def normalise_key(raw: object) -> str:
    """The key as the user meant it, or ``ValidationError`` for obvious garbage.

    Pasting adds whitespace, line breaks and invisible format characters (zero-width spaces, a
    byte order mark); those are removed everywhere, not just at the ends. Case is folded only
    where the format is known to be case-insensitive (UUIDs, hex), so two spellings of one UUID
    key are one key. Anything else is kept exactly: the vendor decides what is valid, and a
    format we did not foresee must still reach the server.

    Raises:
        ValidationError: not text, empty, control characters, longer than 512 characters, or
            no letter or digit at all. The message says what a key looks like and never repeats
            the input.
    """
    if not isinstance(raw, str):
        raise ValidationError("license key", f"must be text; {KEY_LOOKS_LIKE}")
    kept = []
    for char in raw:
        if char.isspace():
            continue
        category = unicodedata.category(char)
        if category == "Cf":  # zero-width space, BOM, soft hyphen...: paste artefacts
            continue
        if category == "Cc":
            raise ValidationError("license key", f"contains control characters; {KEY_LOOKS_LIKE}")
        kept.append(char)
    key = "".join(kept)
    if not key:
        raise ValidationError("license key", f"is empty; {KEY_LOOKS_LIKE}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            "license key", f"is {len(key)} characters long (at most {MAX_KEY_LENGTH}); "
            f"{KEY_LOOKS_LIKE}"
        )
    if not any(char.isalnum() for char in key):
        raise ValidationError("license key", f"has no letters or digits; {KEY_LOOKS_LIKE}")
    if _UUID.match(key) or _HEX.match(key):
        key = key.lower()
    return key
