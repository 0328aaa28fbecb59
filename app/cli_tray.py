"""Registers ``tray`` (the default command) and ``show license|consent|history`` with the CLI.

Imported by ``app.cli._load_extensions``; importing this module does not import Qt (the
commands do, when they run), so ``license-companion status`` stays fast and display-free.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import app.cli as cli
from app.cli import EXIT_OK, EXTENSIONS, Context, companion_options, out
from app.service.autostart import login_args
from app.service.companion import Companion, open_companion

WINDOW_CHOICES = ("license", "consent", "history", "about")


def _factories(ctx: Context) -> tuple[Callable[[], Companion], Callable[[Companion], Any] | None]:
    """The companion and license-service builders the worker calls on its own thread."""
    config = ctx.config  # load (and validate) now, on the main thread: errors exit 2 at once

    def companion_factory() -> Companion:
        return open_companion(config, ctx.home, **companion_options(ctx))

    license_factory = None
    try:
        from app import cli_license
    except ImportError:
        cli_license = None  # type: ignore[assignment]
    if cli_license is not None and hasattr(cli_license, "license_service"):
        def license_factory(companion: Companion) -> Any:
            # Built by the companion itself (cli_license's COMPANION_OPTIONS): one database.
            return companion.license
    return companion_factory, license_factory


def cmd_tray(ctx: Context) -> int:
    from app.ui.app import run_tray

    companion_factory, license_factory = _factories(ctx)
    interval = getattr(ctx.args, "send_interval", None) or 10.0
    return run_tray(ctx.home, companion_factory, license_factory, ctx.config.product.name,
                    ctx.config.source, interval=interval, show=getattr(ctx.args, "show", None),
                    login_args=login_args(ctx.args.home, ctx.args.config))


def cmd_show(ctx: Context) -> int:
    """Show a window: in the running tray if there is one, else in a window-only process."""
    from app.ui.app import forward, run_tray

    what = ctx.args.window
    running, pid = forward(ctx.home, f"show {what}")
    if running:
        out(f"shown by the running tray (pid {pid})")
        return EXIT_OK
    companion_factory, license_factory = _factories(ctx)
    return run_tray(ctx.home, companion_factory, license_factory, ctx.config.product.name,
                    ctx.config.source, show=what, windows_only=True)


def register(sub: Any) -> dict[str, Callable[[Context], int]]:
    """Add ``tray`` and ``show`` to the command line."""
    p = sub.add_parser("tray", help="the tray icon (the default when no command is given)")
    p.add_argument("--send-interval", type=float, default=None, metavar="SECONDS",
                   help=argparse.SUPPRESS)  # tuning and tests; 10 s by default
    p.add_argument("--show", choices=WINDOW_CHOICES, default=None,
                   help="also open this window at start")
    p = sub.add_parser("show", help="open a window of the running tray (or on its own)")
    p.add_argument("window", choices=WINDOW_CHOICES)
    return {"tray": cmd_tray, "show": cmd_show}


if register not in EXTENSIONS:
    EXTENSIONS.append(register)
    cli.DEFAULT_COMMAND = "tray"
