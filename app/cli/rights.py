"""``identity reset`` and ``forget``: the user's rights over their data (``app.core.rights``).

Both change what cannot be undone, so each asks first: on a terminal a question answered with
"yes"; otherwise ``--yes`` must say it, and without it nothing is changed.
"""

from __future__ import annotations

import sys

from app import APP_ID
from app.cli.context import EXIT_OK, EXIT_USAGE, Context, out
from app.cli.events import nudge_tray
from app.model.text import printable


def _confirmed(ctx: Context, question: str) -> bool | None:
    """True: go on; False: the user said no; None: no terminal to ask and no ``--yes``."""
    if ctx.args.yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        return None
    out(question)
    try:
        answer = input("Type yes to go on: ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"


def _asked(ctx: Context, command: str, question: str) -> int | None:
    """None when confirmed; else the exit code, with why nothing was done."""
    confirmed = _confirmed(ctx, question)
    if confirmed:
        return None
    if confirmed is None:
        print(f"{APP_ID}: error: {command} cannot be undone and there is no terminal to ask; "
              f"run '{APP_ID} {command} --yes' to confirm. Nothing was changed.", file=sys.stderr)
        return EXIT_USAGE
    out("Nothing was changed.")
    return EXIT_USAGE


def _contact_line(contact: str) -> str:
    if contact:
        return f"To have it deleted, ask the vendor: {printable(contact)}"
    return ("The vendor's configuration names no privacy contact; see the product's privacy "
            "policy to ask the vendor to delete it.")


def cmd_identity(ctx: Context) -> int:
    """``identity reset [--yes]``: a new user identifier from now on."""
    from app.core.rights import NOT_ON_SERVERS, reset_identifier

    stop = _asked(ctx, "identity reset", (
        "Reset your identifier: from now on a new user identifier is sent, and the current one "
        "can no longer be derived. Events waiting to be sent are deleted unsent."))
    if stop is not None:
        return stop
    result = reset_identifier(ctx.companion)
    nudge_tray(ctx)  # a running tray shows the queue it no longer has at once
    out("Identifier reset: a new user identifier is sent from now on; the old one can no "
        "longer be derived.")
    out(f"Deleted {result.removed} queued event(s) recorded under the old identifier, unsent.")
    out("The activation identifier is unchanged: it holds your license's seat with KeyManager.")
    out(NOT_ON_SERVERS)
    out(_contact_line(ctx.config.product.privacy_contact))
    return EXIT_OK


def cmd_forget(ctx: Context) -> int:
    """``forget [--yes]``: decline everything, delete the queue and history, reset the id."""
    from app.core.rights import KEY_KEPT, NOT_ON_SERVERS, forget

    stop = _asked(ctx, "forget", (
        "Forget me: every category is declined (nothing is sent until you agree again), the "
        "events waiting and the history are deleted, and your identifier is reset. To keep a "
        f"copy first (it names the identifier the vendor knows you by), run '{APP_ID} export "
        "FILE'."))
    if stop is not None:
        return stop
    result = forget(ctx.companion)
    nudge_tray(ctx)  # a running tray tells watching applications: everything is declined
    out("Forgotten on this computer:")
    out(f"  declined every category ({len(result.revoked)}): nothing is sent until you "
        "agree again")
    out(f"  deleted {result.removed} queued event(s), unsent, and {result.history_removed} "
        f"history entr{'y' if result.history_removed == 1 else 'ies'}")
    out("  reset your identifier: the one before can no longer be derived")
    out(NOT_ON_SERVERS)
    out(_contact_line(result.privacy_contact))
    out(KEY_KEPT)
    return EXIT_OK
