"""Builds the object graph, top to bottom: the one place where the parts meet.

The state database is made first, then the license service on it (the keyring entry, the HTTP
client), then the ``Companion`` that is handed that service. Nothing is registered at import
time and no object is handed over half built; the CLI and the tray both call
``build_companion``. Reading this module tells what runs in a process.

The license service is handed over as a factory the companion calls the first time it needs the
key or the license's state: a ``track`` never does, and so never imports the keyring, the HTTP
stack or the signature code (see ``Companion``); the stores of the key are in
``app.storage.keyring.stores``, imported with the license service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.companion import DB_NAME, Companion
from app.core.consent import system_policy
from app.delivery.lazy_http import LazyHttpClient
from app.model.consent import AdminPolicy
from app.model.errors import CompanionError
from app.storage.config import VendorConfig
from app.storage.db import Database
from app.storage.state import StateStore

if TYPE_CHECKING:
    from app.core.identity import Identity
    from app.core.license import LicenseService

IdentitySource = Callable[[], "Identity"]
CompanionBuilder = Callable[[VendorConfig, Path], Companion]


def identity_source(product_id: str) -> IdentitySource:
    """This user's identifiers, derived once per process on first use.

    One source is shared by the companion, the license service and ``id``, so the machine id
    and the OS account are read once.
    """
    memo: list[Identity] = []

    def identity() -> Identity:
        if not memo:
            from app.core.identity import derive_identity

            memo.append(derive_identity(product_id))
        return memo[0]

    return identity


def build_companion(
    config: VendorConfig,
    home: Path,
    *,
    license_key: Callable[[], str] | None = None,
    identity: IdentitySource | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    session_id: str | None = None,
    keyring_timeout: float = 10.0,
    admin: AdminPolicy | None = None,
    check_pages: bool = True,
) -> Companion:
    """The companion for one vendor config and state directory, its database open.

    Args:
        config: the validated vendor configuration.
        home: the state directory.
        license_key: read the license key from this instead of the OS keyring (tests and
            benchmarks only; see ``app.storage.keyring.stores.GivenKeyStore``).
        identity: this user's identifiers (default: derived from the product id, once).
        environ: environment (``DO_NOT_TRACK``; default ``os.environ``).
        clock: seconds since the epoch.
        session_id: this app session's id (default: a new one).
        keyring_timeout: seconds a keyring call may take before it counts as unavailable.
        admin: the administrator's policy (default: read from this OS's fixed place, never
            from the environment; tests pass their own).
        check_pages: read the whole state database when opening it (see ``Database``);
            False for a process that only tracks.

    Raises:
        CompanionError: the state database cannot be opened (the message says why).
    """
    id_source = identity or identity_source(config.product.id)
    db = Database(home / DB_NAME, check_pages=check_pages)

    def license() -> LicenseService:
        """The license service on the companion's database: built when first needed, with
        an HTTP client made on its first request (checking the license is rare)."""
        from app.core.license import LicenseService
        from app.storage.keyring.stores import GivenKeyStore, keyring_store

        store = GivenKeyStore(license_key) if license_key is not None else keyring_store(
            config, keyring_timeout)
        client = LazyHttpClient(config.keymanager.timeout)
        return LicenseService(config, store, StateStore(db), id_source,  # type: ignore[arg-type]
                              client, clock)  # type: ignore[arg-type]

    companion = Companion(config, home, db, license_factory=license, identity=id_source,
                          environ=environ, clock=clock, session_id=session_id,
                          admin=system_policy() if admin is None else admin)
    try:
        db.open()  # now, so a damaged or unwritable state directory is reported at start
        # No policy deletions here: a read (``status``) must never delete. The tray applies a
        # policy change when it starts and on each send round, with its record.
    except CompanionError:
        companion.close()
        raise
    return companion


def reading_companion(config: VendorConfig, home: Path, *, keyring_timeout: float = 5.0,
                      admin: AdminPolicy | None = None,
                      environ: Mapping[str, str] | None = None) -> Companion | None:
    """A companion on the existing state database opened read-only (``doctor``: it writes
    nothing), or None when there is none yet. Its ``status`` is the one the tray shows."""
    db = Database(home / DB_NAME, check_pages=False)
    if not db.open_for_reading():
        return None

    def license() -> LicenseService:
        from app.core.license import LicenseService
        from app.storage.keyring.stores import keyring_store

        return LicenseService(config, keyring_store(config, keyring_timeout), StateStore(db),
                              identity_source(config.product.id),
                              LazyHttpClient(config.keymanager.timeout),  # type: ignore[arg-type]
                              time.time)

    return Companion(config, home, db, license_factory=license,
                     identity=identity_source(config.product.id), environ=environ,
                     admin=system_policy() if admin is None else admin)


def license_of(companion: Companion) -> LicenseService | None:
    """The tray worker's license service: the companion's own (one database, one cache)."""
    return companion.license
