"""The program's entry point (``license-companion``, ``python -m app``, the frozen executable).

The one place that chooses between the tray and the command line: ``tray`` (also when no
command is given) and ``show`` import the tray's code, and with it Qt, only here and only when
they run; every other command runs ``app.cli`` without ever importing PySide6.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line's command, or the tray; returns the exit code."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in raw:  # before the commands: it must work even when they cannot
        from app.tray.selftest import run_self_test

        return run_self_test(raw)
    if raw in ([], ["tray"]):  # the tray as the desktop starts it: its icon first (app.tray.first)
        from app.tray.first import icon_first

        code = icon_first(lambda: _command_line(raw))
        if code is not None:
            return code
    return _command_line(raw)


def _command_line(raw: list[str]) -> int:
    """Parse ``raw`` and run its command (the tray's with its functions from ``app.tray``)."""
    from app import cli

    args = cli.parse_args(raw)
    command = cli.COMMANDS.get(args.command)
    if command is not None:
        return cli.run(args, command)
    from app.cli.tray import TRAY_COMMANDS, TrayUi

    tray_command = TRAY_COMMANDS[args.command]
    from app.tray import app as ui  # Qt: only for the tray and its windows

    tray_ui = TrayUi(run_tray=ui.run_tray, forward=ui.forward)
    return cli.run(args, lambda ctx: tray_command(ctx, tray_ui))
