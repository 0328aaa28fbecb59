"""The user's license key, kept only in the OS keyring (Secret Service, Credential Manager, Keychain).

The key is normalised by the model's rules (``app.model.license_key``) before it is stored, and
every keyring call goes through ``app.storage.keyring.access.Keyring``: a deadline on each call
and no fallback, ever (a license key quietly written to a file is exactly what this product
promises not to do). Nothing here puts the key into an exception, a log line or a repr.
"""

from __future__ import annotations

import re

from app.model.license_key import normalise_key
from app.storage.keyring.access import Keyring
from app.support.i18n import N_

SERVICE_PREFIX = "license-companion"
KEY_USERNAME = "license-key"

__all__ = ["KEY_USERNAME", "KeyringSecretStore", "LicenseStore", "normalise_key"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class LicenseStore:
    """Set, read, replace and remove one product's license key in the OS keyring.

    Args:
        service: the keyring service name; use ``service_name()`` so two vendors' companions
            never share an entry.
        timeout: seconds any single keyring call may take before it counts as unavailable.
    """

    def __init__(self, service: str, *, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout
        self.keyring = Keyring(service, timeout=timeout)

    @staticmethod
    def service_name(product_id: str, product_name: str) -> str:
        """``license-companion:<product id>`` (or a slug of the name when there is no id yet).

        Keyed by the product, not by the app, because several vendors may ship this companion to
        the same user; each must see only its own key.
        """
        ident = product_id.strip() or _slug(product_name) or "default"
        return f"{SERVICE_PREFIX}:{ident}"

    # -- the four operations ------------------------------------------------------------------

    def get(self) -> str:
        """The stored key, or "" when none is stored.

        Raises:
            KeyringUnavailableError: the keyring cannot be used (message says how to fix it).
        """
        return self.keyring.get(KEY_USERNAME, N_("read the license key"))

    def set(self, raw: str) -> str:
        """Normalise ``raw``, store it (replacing any previous key) and return what was stored.

        Raises:
            ValidationError: ``raw`` is obviously not a key (nothing was stored).
            KeyringUnavailableError: the keyring cannot be used.
        """
        key = normalise_key(raw)
        self.keyring.set(KEY_USERNAME, key, N_("store the license key"))
        return key

    def clear(self) -> bool:
        """Remove the stored key; True when there was one.

        Raises:
            KeyringUnavailableError: the keyring cannot be used.
        """
        return self.keyring.delete(KEY_USERNAME, N_("remove the license key"))

    def backend_name(self) -> str:
        """The keyring backend ``keyring`` chose, e.g. "SecretService Keyring".

        Raises:
            KeyringUnavailableError: choosing the backend itself failed or timed out.
        """
        return self.keyring.backend_name()

    def __repr__(self) -> str:
        return f"LicenseStore({self.service!r})"


class KeyringSecretStore:
    """Small named values in the OS keyring, with the same timeout and errors as the key.

    Used by ``app.core.identity`` to keep a generated machine id where a reinstall of the app
    cannot lose it (the OS has none readable, e.g. in a container).

    Args:
        service: keyring service name.
        timeout: seconds per keyring call.
    """

    def __init__(self, service: str, *, timeout: float = 10.0) -> None:
        self.keyring = Keyring(service, timeout=timeout)

    @property
    def where(self) -> str:
        """Where values go, for ``id`` output."""
        return f"the OS keyring ({self.keyring.service})"

    def get(self, name: str) -> str:
        """The stored value, "" when none."""
        return self.keyring.get(name, N_("read the generated machine id"))

    def set(self, name: str, value: str) -> None:
        """Store a value."""
        self.keyring.set(name, value, N_("store the generated machine id"))
