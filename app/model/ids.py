"""Random identifiers in the form of version 4 UUIDs, made without the ``uuid`` module.

Why: on Linux ``import uuid`` imports ``platform`` and asks the kernel for its name, a few
milliseconds that every ``track`` process (which makes an event id and a session id) would
pay for ids that are 16 random bytes with the version and variant bits set.
"""

from __future__ import annotations

import os


def uuid4_hex() -> str:
    """32 hex digits: a random UUID, version 4, RFC 4122 variant (as ``uuid.uuid4().hex``)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant 10xx
    return raw.hex()


def uuid4_text() -> str:
    """The same in its usual spelling, ``8-4-4-4-12`` (as ``str(uuid.uuid4())``)."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
