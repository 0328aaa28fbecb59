"""The stable, private ``user_identifier`` and ``activation_identifier`` for this OS user.

What they are::

    user_identifier       = HMAC-SHA256(key = "license-companion/user/v1/<product id>",
                                        msg = <OS machine id> NUL <OS account name>)[:32 hex]
    activation_identifier = HMAC-SHA256(key = "license-companion/activation/v1/<product id>",
                                        msg = <OS machine id> NUL <OS account name>)[:32 hex]
    TelemetryDeck clientUser = sha256(user_identifier + salt)   (app/backends/telemetrydeck.py)

    after "reset my identifier" (``license-companion identity reset``, ``forget``):
    user_identifier       = HMAC-SHA256(key = "license-companion/user-reset/v1/<reset salt>",
                                        msg = <the user_identifier above>)[:32 hex]

Why this shape:

* Same for the same OS user on the same machine across restarts, reinstalls, upgrades and
  license changes: the inputs are the OS's own machine id and the account name, nothing we store
  (the state directory can be wiped) and nothing about the license. The spec asks for a user id
  "irrespective of their activation location or whether they possess a valid license or not".
* Different for two OS users on one machine (the account name is an input) and for two products
  (the product id is part of the key), so vendors cannot join their data on it.
* Not reversible to the machine id or the account name: both are only HMAC inputs, and the
  output is truncated. The machine id is never sent or stored by us.
* Separately keyed for the two purposes: the activation id that KeyManager stores with a seat
  cannot be matched to the telemetry user id.
* Stabler than the public SDKs' hardware id (hash of hostname + architecture + machine id):
  renaming the computer changes nothing here.

Machine id sources, in order: ``/etc/machine-id``, ``/var/lib/dbus/machine-id`` (Linux/BSD);
``HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid`` (Windows); ``IOPlatformUUID`` from
``ioreg`` (macOS). Where none can be read (containers, minimal systems), a random id is generated
once and kept in the OS keyring, so a reinstall of the app does not change it; the place it was
kept is injectable (``secret_store``) so the derivation stays a pure, testable function.
``Identity.machine_id_source`` and ``os_user_source`` record where each input came from.

Resetting the identifier (the user's right to object to being followed under one id): a reset
makes a new random salt (128 bits) and stores it over the one before, so from then on a new
``user_identifier`` is sent that cannot be linked to the one before, and the identifier of an
earlier reset can no longer be derived at all (its salt is gone). The first-derived identifier
can still be computed from the machine id and the account name, as before; the companion never
sends it again while the reset is in force. The derivation stays a pure
function of (machine id, account, product, salt) (``reset_identity``); an empty salt is the
identifier as first derived, so users who never reset keep theirs. The
``activation_identifier`` is not reset: it holds the license's seat with KeyManager, and a new
one would take a second seat.

Where the salt is kept: the state database (``app.storage.identity_reset``), not the OS keyring
beside a generated machine id. Why: the reset is one transaction with what must go with it (the
queued events recorded under the old identifier are deleted, and the reset is written to the
history), so no crash leaves a new salt with old events or the reverse; every process on the
state directory, the tray's sender included, reads it cheaply before each request, so nothing
leaves with the old identifier after the reset is committed; and sending never waits on a
locked keyring for it (a TelemetryDeck-only product never opens the keyring). The price: a
deleted state directory also deletes the salt, and the identifier is then the first-derived
one again. Deleting the state directory deletes the consent decisions too, so nothing is sent
under it until the user agrees again.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
WINDOWS_KEY = r"SOFTWARE\Microsoft\Cryptography"
GENERATED_SERVICE = "license-companion"
GENERATED_NAME = "generated-machine-id"
_IOREG_UUID = re.compile(r'"IOPlatformUUID"\s*=\s*"([^"]+)"')


class SecretStore(Protocol):
    """Where a generated machine id is kept (the OS keyring in production)."""

    def get(self, name: str) -> str:
        """The stored value, "" when none."""
        ...

    def set(self, name: str, value: str) -> None:
        """Store a value."""
        ...


@dataclass(frozen=True)
class Identity:
    """The identifiers sent for this user, and where their inputs came from.

    ``os_user`` is kept for in-process use only; nothing prints or sends it.
    """

    user_identifier: str
    activation_identifier: str
    machine_id_source: str
    os_user: str = field(repr=False)
    os_user_source: str = ""


def _usable(value: str) -> bool:
    """systemd writes "uninitialized" during first boot; an all-zero id identifies nothing."""
    value = value.strip().lower()
    return bool(value) and value != "uninitialized" and set(value) - {"0", "-"} != set()


def read_machine_id(platform: str | None = None) -> tuple[str, str] | None:
    """The OS machine id and where it was read, or None when this OS has none readable."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        return _read_windows_machine_guid()
    if platform == "darwin":
        return _read_macos_platform_uuid()
    for path in MACHINE_ID_FILES:
        try:
            value = path.read_text(encoding="ascii").strip().lower()
        except (OSError, UnicodeDecodeError):
            continue
        if _usable(value):
            return value, str(path)
    return None


def _read_windows_machine_guid() -> tuple[str, str] | None:
    if sys.platform != "win32":
        return None
    try:
        import winreg

        access = winreg.KEY_READ | getattr(winreg, "KEY_WOW64_64KEY", 0)
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, WINDOWS_KEY, 0, access) as key:
            value, _kind = winreg.QueryValueEx(key, "MachineGuid")
    except (ImportError, OSError):
        return None
    value = str(value).strip().lower()
    return (value, f"HKLM\\{WINDOWS_KEY}\\MachineGuid") if _usable(value) else None


def _read_macos_platform_uuid() -> tuple[str, str] | None:
    try:
        result = subprocess.run(
            ["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _IOREG_UUID.search(result.stdout)
    if not match or not _usable(match.group(1)):
        return None
    return match.group(1).strip().lower(), "IOPlatformUUID (ioreg)"


def os_user_name() -> tuple[str, str]:
    """The current OS account's name and where it came from.

    On POSIX the account database entry of the real uid, not ``$USER``: an environment
    variable can differ between a terminal and the tray and would split one user in two.
    """
    if hasattr(os, "getuid"):
        uid = os.getuid()
        try:
            import pwd

            return pwd.getpwuid(uid).pw_name, "account name of the current uid (pwd)"
        except (ImportError, KeyError):
            return f"uid:{uid}", "numeric uid (no account entry)"
    try:
        return getpass.getuser(), "login name (USERNAME)"
    except (KeyError, OSError):
        return "user", "fallback constant (no login name)"


def derive(purpose: str, product_id: str, machine_id: str, os_user: str) -> str:
    """HMAC-SHA256(key = purpose + product id, msg = machine id + user), 32 hex characters."""
    key = f"license-companion/{purpose}/v1/{product_id}".encode()
    message = f"{machine_id}\x00{os_user}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def reset_user_identifier(user_identifier: str, salt: str) -> str:
    """The ``user_identifier`` of a reset generation: HMAC-SHA256 keyed by the salt, 32 hex."""
    key = f"license-companion/user-reset/v1/{salt}".encode()
    return hmac.new(key, user_identifier.encode(), hashlib.sha256).hexdigest()[:32]


def reset_identity(identity: Identity, salt: str) -> Identity:
    """``identity`` with the ``user_identifier`` of reset generation ``salt`` ("" = never reset:
    unchanged). The activation identifier stays: it holds the license's seat."""
    if not salt:
        return identity
    return replace(identity, user_identifier=reset_user_identifier(identity.user_identifier, salt))


def generated_machine_id(store: SecretStore) -> str:
    """A random machine id made once and kept in ``store`` (the keyring), reused afterwards.

    Two processes generating at the same moment both write; re-reading after the write makes
    them converge on whichever value the store kept.
    """
    existing = store.get(GENERATED_NAME).strip()
    if existing:
        return existing
    store.set(GENERATED_NAME, uuid.uuid4().hex)
    return store.get(GENERATED_NAME).strip()


def default_secret_store() -> SecretStore:
    """The OS keyring, under a service name shared by all products (it stands in for the OS id)."""
    from app.storage.keyring.license_store import KeyringSecretStore

    return KeyringSecretStore(GENERATED_SERVICE)


def derive_identity(
    product_id: str,
    machine_id: str | None = None,
    os_user: str | None = None,
    *,
    secret_store: SecretStore | None = None,
    reader: Callable[[], tuple[str, str] | None] = read_machine_id,
    salt: str = "",
) -> Identity:
    """Both identifiers for this product, machine and user.

    Args:
        product_id: the vendor's product id (keys both HMACs).
        machine_id: use this instead of reading the OS's (tests).
        os_user: use this account name instead of the current one (tests, "another user").
        secret_store: where a generated machine id lives when the OS has none; the OS keyring
            when None (only touched in that case).
        reader: reads the OS machine id (injectable so the fallback can be tested).
        salt: the reset generation (``app.storage.identity_reset``; "" = never reset).

    Raises:
        KeyringUnavailableError: no OS machine id and the keyring cannot keep a generated one.
    """
    source = "given"
    if machine_id is None:
        found = reader()
        if found is None:
            store = secret_store if secret_store is not None else default_secret_store()
            machine_id = generated_machine_id(store)
            source = f"generated once, kept in {getattr(store, 'where', 'the OS keyring')}"
        else:
            machine_id, source = found
    if os_user is None:
        user, user_source = os_user_name()
    else:
        user, user_source = os_user, "given"
    return reset_identity(Identity(
        user_identifier=derive("user", product_id, machine_id, user),
        activation_identifier=derive("activation", product_id, machine_id, user),
        machine_id_source=source,
        os_user=user,
        os_user_source=user_source,
    ), salt)
