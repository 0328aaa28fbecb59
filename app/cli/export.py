"""``export FILE``: everything kept about the user, written to one private JSON file."""

from __future__ import annotations

from pathlib import Path

from app.cli.context import EXIT_OK, Context, out
from app.model.text import printable


def cmd_export(ctx: Context) -> int:
    """``export FILE [--force]``: the history, the queue, the consent decisions and the
    identifiers (``app.core.export``); refuses an existing FILE without ``--force``."""
    from app.core.export import export_to

    path = Path(ctx.args.file).expanduser()
    data = export_to(ctx.companion, path, replace=ctx.args.force)
    out(f"wrote {printable(str(path))} (mode 600): {len(data['history'])} history entr"
        f"{'y' if len(data['history']) == 1 else 'ies'}, {len(data['queued'])} queued "
        f"event(s), {len(data['consent']['decisions'])} consent decision(s)")
    out("Not in it: your license key (it stays in the OS keyring) and what the vendor's "
        "servers already received.")
    return EXIT_OK
