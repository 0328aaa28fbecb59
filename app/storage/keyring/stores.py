"""Where the license service reads the key: the product's keyring entry, or a caller's key.

Imported by ``app.core.wiring`` only when the license service is built (a ``track`` never builds
it), so a process that only tracks never imports the keyring.
"""

from __future__ import annotations

from collections.abc import Callable

from app.model.license_key import normalise_key
from app.storage.config import VendorConfig
from app.storage.keyring.license_store import LicenseStore
from app.support.logsetup import SECRETS


class LoggedSecretStore(LicenseStore):
    """The keyring store, registering every key it sees with the log filter (belt and braces)."""

    def get(self) -> str:
        """The stored key; masked in any log line from now on."""
        key = super().get()
        SECRETS.add(key)
        return key

    def set(self, raw: str) -> str:
        """Store the key; masked in any log line from now on."""
        key = super().set(raw)
        SECRETS.add(key)
        return key


class GivenKeyStore:
    """A license key given by the caller instead of the OS keyring, held in memory only.

    Only ever used when a caller passes ``license_key`` to ``build_companion`` (tests,
    benchmarks); the product itself always uses the keyring and never falls back to this.

    Args:
        source: returns the key ("" when none).
    """

    def __init__(self, source: Callable[[], str]) -> None:
        self._source = source
        self._replaced: str | None = None

    def get(self) -> str:
        """The key ("" when none)."""
        return self._source() if self._replaced is None else self._replaced

    def set(self, raw: str) -> str:
        """Replace the key for this process; returns it normalised."""
        self._replaced = normalise_key(raw)
        return self._replaced

    def clear(self) -> bool:
        """Forget the key; True when there was one."""
        had = bool(self.get())
        self._replaced = ""
        return had

    def backend_name(self) -> str:
        """Where the key is: in memory, given by the caller."""
        return "given by the caller (in memory)"

    def __repr__(self) -> str:
        return "GivenKeyStore(<hidden>)"


def keyring_store(config: VendorConfig, timeout: float = 10.0) -> LoggedSecretStore:
    """The product's own keyring entry (two vendors' companions never share one)."""
    return LoggedSecretStore(LicenseStore.service_name(config.product.id, config.product.name),
                             timeout=timeout)
