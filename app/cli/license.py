"""``license-companion license ...`` and ``id``: the license key in the OS keyring, its status, ids.

The key is never read from argv (it would sit in the process list and the shell history):
``license set`` reads stdin, or a hidden prompt on a terminal, and a key given as an argument is
refused without being echoed.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from app.backends.telemetrydeck import client_user
from app.cli.context import EXIT_OK, EXIT_REMAINS, EXIT_USAGE, Context, out, out_json, when
from app.core.license import NO_KEY, UNKNOWN, VALID, LicenseService, LicenseStatus
from app.door.license import install_recorder, offline_grace
from app.model.errors import CompanionError, ValidationError
from app.model.text import printable
from app.model.wire import mask_secret


def license_service(ctx: Context) -> LicenseService:
    """The companion's license service (``app.core.wiring.build_companion`` always builds one)."""
    service = ctx.companion.license
    if service is None:  # a custom builder left it out: a wiring bug, not the user's
        raise AssertionError("the companion was built without a license service")
    return service


# --- commands --------------------------------------------------------------------------------


MAX_KEY_INPUT = 4096  # bytes read from standard input for a key (a key is ~40 characters)


def _read_key_from_user() -> str:
    if sys.stdin is None:
        raise CompanionError("no standard input to read the license key from")
    if sys.stdin.isatty():
        return getpass.getpass("License key (typing is hidden): ")
    # Bounded: ``license set < /dev/zero`` must be a clear refusal, not an exhausted memory.
    raw = (sys.stdin.buffer.read(MAX_KEY_INPUT + 1) if hasattr(sys.stdin, "buffer")
           else sys.stdin.read(MAX_KEY_INPUT + 1))
    if len(raw) > MAX_KEY_INPUT:
        raise ValidationError(
            "license key", f"standard input holds more than {MAX_KEY_INPUT} bytes; a license "
            "key is a few dozen characters: pipe in only the key")
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            "license key", f"what was read from standard input is not UTF-8 text (byte "
            f"{exc.start + 1} of {len(raw)}); copy the key from your license e-mail again and "
            "pipe in only the key") from None


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
        install_recorder(service)  # the answer's signed time, as the door judges it
        status = service.cached_status() if ctx.args.offline else service.verify()
        return _report(ctx, service, status, now, trust=True)
    if action == "activate":
        return _report(ctx, service, service.activate(), now)
    if action == "deactivate":
        return _report(ctx, service, service.deactivate(), now)
    raise AssertionError(action)


def _report(ctx: Context, service: LicenseService, status: LicenseStatus, now: float,
            trust: bool = False) -> int:
    ok = status.ok or (status.action == "verify" and status.state == VALID)
    doubt = ""
    if trust and status.state == VALID:
        # The door's rule, so a replayed or backdated "valid" is not shown as valid here either.
        grace = offline_grace(service, status, service.config.license.offline_grace_days, now)
        if not grace["counts_as_valid"]:
            ok, doubt = False, str(grace["reason"])
    if getattr(ctx.args, "json", False):
        answer = status.to_dict(now)
        if trust:
            answer["counts_as_valid"] = ok and status.state == VALID
            answer["not_valid_because"] = doubt
        out_json(answer)
        return EXIT_OK if ok else EXIT_REMAINS
    if doubt:
        out(f"license: not taken as valid: {printable(doubt)}")
        return EXIT_REMAINS
    if status.action == "verify" or status.state in (UNKNOWN, NO_KEY):
        out(f"license: {printable(status.describe(now))}")
    else:
        verb = {"activate": "activated", "deactivate": "deactivated"}[status.action]
        head = verb if status.ok else f"not {verb}"
        out(f"{head}: {status.code} {printable(status.message)}".rstrip())
    if status.signature == "invalid" or status.problem.startswith("SECURITY"):
        out("WARNING: the answer could not be trusted (signature mismatch)")
    return EXIT_OK if ok else EXIT_REMAINS


def _reset_words(ctx: Context) -> str:
    """How a reset of the identifier (``identity reset``) enters it, "" when never reset."""
    from app.storage import identity_reset

    found = identity_reset.current(ctx.companion.db)
    if found is None:
        return ""
    return (f", then HMAC-SHA256 keyed by the random salt of your reset of {when(found.at)} "
            "(identity reset)")


def cmd_id(ctx: Context) -> int:
    """``id``: both identifiers, TelemetryDeck's clientUser, and where each came from."""
    config = ctx.config
    ident = ctx.companion.identity()  # of the reset generation in force (``identity reset``)
    td = config.telemetrydeck
    td_on = td.enabled and not td.missing()
    inputs = f"the machine id ({ident.machine_id_source}) and the OS account ({ident.os_user_source})"
    data: dict[str, Any] = {
        "product_id": config.product.id,
        "user_identifier": ident.user_identifier,
        "activation_identifier": ident.activation_identifier,
        "client_user": client_user(ident.user_identifier, td.salt) if td_on else None,
        "sources": {
            "machine_id": ident.machine_id_source,
            "os_user": ident.os_user_source,
            "user_identifier": f"HMAC-SHA256 of {inputs}, keyed by \"user\" and the product id"
                               + _reset_words(ctx),
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
