"""Typed errors. Each carries a message meant for the user: one line that says what to do.

"The environment failed" (a missing keyring, a bad config file, a full disk) is a
``CompanionError``; anything else escaping the service layer is a bug.
"""

from __future__ import annotations


class CompanionError(Exception):
    """An error the user can act on; ``str()`` is the one-line message to show."""

    exit_code = 1


class ValidationError(CompanionError, ValueError):
    """Bad input at the door: names the field and what is wrong. Nothing was stored."""

    exit_code = 2

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class ConfigError(CompanionError):
    """The vendor configuration is missing, unreadable or invalid."""

    exit_code = 2

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"config {where}: {problem}")


class StorageError(CompanionError):
    """The state directory or the outbox file cannot be used."""


class KeyringUnavailableError(CompanionError):
    """No usable OS keyring; the message names the backend and the fix for this OS."""


class KeyringLockedError(KeyringUnavailableError):
    """The OS keyring is there but locked: unlocking it is the fix."""


NO_KEY_REASON = "no license key stored (license-companion license set)"
# The same, when the vendor configuration has KeyManager's events skipped rather than kept.
NO_KEY_SKIP_REASON = ("no license key stored (license-companion license set); events for it "
                      "are skipped ([keymanager] without_key = \"skip\")")


class NoLicenseKeyError(CompanionError):
    """No license key is stored: KeyManager telemetry waits (an empty key looks pirated)."""

    def __init__(self) -> None:
        super().__init__(NO_KEY_REASON)
