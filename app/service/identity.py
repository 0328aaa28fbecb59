"""The stable, private ``user_identifier`` and ``activation_identifier`` for this OS user.

Both are HMAC-SHA256 of (OS machine id, OS user name), keyed by a purpose label and the product id,
so they stay the same across restarts, reinstalls and license changes, differ between OS users
and products, and cannot be turned back into the machine id or the user name.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


@dataclass(frozen=True)
class Identity:
    """The identifiers sent for this user, and where their inputs came from."""

    user_identifier: str
    activation_identifier: str
    machine_id_source: str
    os_user: str


def read_machine_id() -> tuple[str, str] | None:
    """The OS machine id and where it was read, or None when this OS has none readable."""
    for path in MACHINE_ID_FILES:
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value:
            return value, str(path)
    return None


def os_user_name() -> str:
    """The login name of the current OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def derive(purpose: str, product_id: str, machine_id: str, os_user: str) -> str:
    """HMAC-SHA256(key = purpose + product id, msg = machine id + user), 32 hex characters."""
    key = f"license-companion/{purpose}/v1/{product_id}".encode()
    message = f"{machine_id}\x00{os_user}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def derive_identity(
    product_id: str, machine_id: str | None = None, os_user: str | None = None
) -> Identity:
    """Both identifiers for this product, machine and user."""
    source = "given"
    if machine_id is None:
        found = read_machine_id()
        if found is None:
            raise RuntimeError("no machine id")
        machine_id, source = found
    user = os_user if os_user is not None else os_user_name()
    return Identity(
        user_identifier=derive("user", product_id, machine_id, user),
        activation_identifier=derive("activation", product_id, machine_id, user),
        machine_id_source=source,
        os_user=user,
    )
