"""``license-companion license ...`` and ``id``: the license key in the OS keyring, its status, ids.

Registered through ``app.cli.EXTENSIONS`` (imported by ``app.cli._load_extensions``), so
``app.cli`` does not import the keyring. The key is never read from argv (it would sit in the
process list and the shell history): ``license set`` reads stdin, or a hidden prompt on a
terminal, and a key given as an argument is refused without being echoed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from app.backends.telemetrydeck import client_user
from app.cli import (
    COMPANION_OPTIONS,
    EXIT_OK,
    EXIT_REMAINS,
    EXIT_USAGE,
    EXTENSIONS,
    STATUS_EXTRAS,
    Context,
    out,
    out_json,
)
from app.logsetup import SECRETS
from app.model.errors import CompanionError
from app.model.wire import mask_secret
from app.service.companion import Companion
from app.service.identity import Identity, derive_identity
from app.service.license import (
    NO_KEY,
    VALID,
    LicenseService,
    LicenseStatus,
    build_license_service,
)
from app.storage.license_store import LicenseStore


class _LoggedSecretStore(LicenseStore):
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


def identity_source(ctx: Context) -> Callable[[], Identity]:
    """One identity per process, shared by the companion, the license service and ``id``."""
    cached = getattr(ctx, "_license_identity", None)
    if cached is None:
        product_id = ctx.config.product.id
        memo: list[Identity] = []

        def cached(product_id: str = product_id) -> Identity:
            if not memo:
                memo.append(derive_identity(product_id))
            return memo[0]

        ctx._license_identity = cached  # type: ignore[attr-defined]
    return cached


def license_factory(companion: Companion) -> LicenseService:
    """The license service on the companion's own state (one database, one set of notices)."""
    config = companion.config
    store = _LoggedSecretStore(LicenseStore.service_name(config.product.id, config.product.name))
    return build_license_service(config, companion.state, companion.identity, store=store)


def license_service(ctx: Context) -> LicenseService:
    """The companion's license service (the companion builds it with ``license_factory``)."""
    service = ctx.companion.license
    if service is None:  # another provider replaced the factory: a wiring bug, not the user's
        raise AssertionError("the companion was built without a license service")
    return service


# --- providers for app.cli ------------------------------------------------------------------


def companion_options(ctx: Context) -> dict[str, Any]:
    """The Companion builds the keyring-backed license service on its own state."""
    return {"license_factory": license_factory, "identity": identity_source(ctx)}


def status_extras(ctx: Context) -> dict[str, Any]:
    """License lines for ``status``; a broken keyring is reported, never fatal."""
    service = license_service(ctx)
    now = service.clock()
    extras: dict[str, Any] = {}
    try:
        extras["license_keyring"] = service.store.backend_name()
        key = service.key()
    except CompanionError as exc:
        # One failure is enough: a hanging keyring must not cost a second timeout.
        extras.setdefault("license_keyring", "unavailable")
        extras["license_key"] = f"unknown: {exc}"
        extras["license_status"] = service.cached_status(check_key=False).describe(now)
        return extras
    extras["license_key"] = (f"set ({mask_secret(key)})" if key
                             else "not set (license-companion license set)")
    status = service.cached_status(check_key=False) if key else LicenseStatus(NO_KEY)
    extras["license_status"] = status.describe(now)
    return extras


# --- commands --------------------------------------------------------------------------------


def _read_key_from_user() -> str:
    if sys.stdin is None:
        raise CompanionError("no standard input to read the license key from")
    if sys.stdin.isatty():
        return getpass.getpass("License key (typing is hidden): ")
    return sys.stdin.read()


def cmd_license(ctx: Context) -> int:
    """Dispatch ``license ACTION``."""
    action = ctx.args.license_action
    service = license_service(ctx)
    now = service.clock()
    if action == "set":
        if ctx.args.stray:
            print("license-companion: error: never put the license key on the command line (it "
                  "stays in the process list and shell history); pipe it in or type it at the "
                  "hidden prompt: license-companion license set", file=sys.stderr)
            return EXIT_USAGE
        masked = service.set_key(_read_key_from_user())
        out(f"license key stored in the OS keyring ({service.store.backend_name()}): {masked}")
        out("check it with: license-companion license status")
        return EXIT_OK
    if action == "show":
        key = service.key()
        if not key:
            out("no license key stored (license-companion license set)")
            return EXIT_REMAINS
        if ctx.args.reveal:
            out(key)
        else:
            out(f"{mask_secret(key)} (in {service.store.backend_name()}; --reveal shows it)")
        return EXIT_OK
    if action == "clear":
        removed = service.clear_key()
        out("license key removed from the OS keyring" if removed
            else "no license key was stored")
        return EXIT_OK
    if action == "status":
        status = service.cached_status() if ctx.args.offline else service.verify()
        return _report(ctx, service, status, now)
    if action == "activate":
        return _report(ctx, service, service.activate(), now)
    if action == "deactivate":
        return _report(ctx, service, service.deactivate(), now)
    raise AssertionError(action)


def _report(ctx: Context, service: LicenseService, status: LicenseStatus, now: float) -> int:
    ok = status.ok or (status.action == "verify" and status.state == VALID)
    if getattr(ctx.args, "json", False):
        out_json(status.to_dict(now))
        return EXIT_OK if ok else EXIT_REMAINS
    if status.action == "verify" or status.state in ("unknown", NO_KEY):
        out(f"license: {status.describe(now)}")
    else:
        verb = {"activate": "activated", "deactivate": "deactivated"}[status.action]
        head = verb if status.ok else f"not {verb}"
        out(f"{head}: {status.code} {status.message}".rstrip())
    if status.signature == "invalid" or status.problem.startswith("SECURITY"):
        out("WARNING: the answer could not be trusted (signature mismatch)")
    return EXIT_OK if ok else EXIT_REMAINS


def cmd_id(ctx: Context) -> int:
    """``id``: both identifiers, TelemetryDeck's clientUser, and where each came from."""
    config = ctx.config
    ident = identity_source(ctx)()
    td = config.telemetrydeck
    td_on = td.enabled and not td.missing()
    inputs = f"the machine id ({ident.machine_id_source}) and the OS account ({ident.os_user_source})"
    data = {
        "product_id": config.product.id,
        "user_identifier": ident.user_identifier,
        "activation_identifier": ident.activation_identifier,
        "client_user": client_user(ident.user_identifier, td.salt) if td_on else None,
        "sources": {
            "machine_id": ident.machine_id_source,
            "os_user": ident.os_user_source,
            "user_identifier": f"HMAC-SHA256 of {inputs}, keyed by \"user\" and the product id",
            "activation_identifier": (f"HMAC-SHA256 of {inputs}, keyed by \"activation\" and "
                                      "the product id"),
            "client_user": ("sha256(user_identifier + [telemetrydeck] salt)" if td_on
                            else "TelemetryDeck is not configured"),
        },
    }
    if ctx.args.json:
        out_json(data)
        return EXIT_OK
    out(f"user_identifier:       {data['user_identifier']}")
    out(f"activation_identifier: {data['activation_identifier']}")
    out(f"clientUser:            {data['client_user'] or '(TelemetryDeck not configured)'}")
    for name, source in data["sources"].items():
        out(f"  {name}: {source}")
    return EXIT_OK


# --- registration ---------------------------------------------------------------------------


def register(sub: Any) -> dict[str, Callable[[Context], int]]:
    """Add ``license`` and ``id`` to the command line."""
    p = sub.add_parser("license", help="your license key (in the OS keyring) and its status")
    actions = p.add_subparsers(dest="license_action", metavar="ACTION", required=True)
    s = actions.add_parser(
        "set", help="store the key: read from stdin, or a hidden prompt on a terminal"
    )
    s.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    s = actions.add_parser("show", help="the stored key, masked")
    s.add_argument("--reveal", action="store_true", help="print the whole key")
    actions.add_parser("clear", help="remove the key from the OS keyring")
    s = actions.add_parser("status", help="valid / invalid / unknown, asking the server")
    s.add_argument("--json", action="store_true")
    s.add_argument("--offline", action="store_true", help="only the last answer, no network")
    for name, text in (("activate", "take a seat for this computer"),
                       ("deactivate", "free this computer's seat (moving to another one)")):
        s = actions.add_parser(name, help=text)
        s.add_argument("--json", action="store_true")
    p = sub.add_parser("id", help="the identifiers sent for you, and where they come from")
    p.add_argument("--json", action="store_true")
    return {"license": cmd_license, "id": cmd_id}


if register not in EXTENSIONS:
    EXTENSIONS.append(register)
    COMPANION_OPTIONS.append(companion_options)
    STATUS_EXTRAS.append(status_extras)
