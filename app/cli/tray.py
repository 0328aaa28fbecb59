"""``tray`` (the default command) and ``show license|consent|history|about``.

This module does not import Qt: the entry point (``app.main``) imports the tray's code only
when one of these commands runs and hands its functions in (``TrayUi``), so
``license-companion status`` stays fast and display-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli.context import EXIT_OK, Context, out

SEND_INTERVAL = 10.0  # seconds between send rounds unless --send-interval says otherwise
WINDOWS = ("license", "consent", "history", "about")  # what --show and show may open


@dataclass(frozen=True)
class TrayUi:
    """The tray's two entry points, from ``app.tray.app`` (imported by the entry point).

    Attributes:
        run_tray: ``run_tray(state_dir, companion_factory, license_factory, product,
            config_path, *, show, interval, windows_only, login_args) -> exit code``.
        forward: ``forward(state_dir, message) -> (running, pid)``: hand a message to a
            running tray.
    """

    run_tray: Callable[..., int]
    forward: Callable[[Path, str], tuple[bool, int | None]]


def license_of(companion: Any) -> Any:
    """``app.core.wiring.license_of``, imported when the worker calls it (after the tray's icon)."""
    from app.core.wiring import license_of as of

    return of(companion)


def _check_config(ctx: Context) -> None:
    """Load (and validate) the config now, on the main thread: errors exit 2 at once, not on
    the worker thread after a window appeared."""
    ctx.config  # noqa: B018 - loading is the point


def cmd_tray(ctx: Context, ui: TrayUi) -> int:
    """``tray``: the icon, the windows and sending in the background, until Quit."""
    from app.core.wiring import license_of
    from app.support.autostart import login_args

    _check_config(ctx)
    interval = getattr(ctx.args, "send_interval", None) or SEND_INTERVAL
    return ui.run_tray(ctx.home, ctx.build_companion, license_of, ctx.config.product.name,
                       ctx.config.source, interval=interval,
                       show=getattr(ctx.args, "show", None),
                       login_args=login_args(ctx.args.home, ctx.args.config))


def cmd_show(ctx: Context, ui: TrayUi) -> int:
    """``show WINDOW``: in the running tray if there is one, else in a window-only process."""
    what = ctx.args.window
    running, pid = ui.forward(ctx.home, f"show {what}")
    if running:
        out(f"shown by the running tray (pid {pid})")
        return EXIT_OK
    from app.core.wiring import license_of

    _check_config(ctx)
    return ui.run_tray(ctx.home, ctx.build_companion, license_of, ctx.config.product.name,
                       ctx.config.source, show=what, windows_only=True)


TRAY_COMMANDS: dict[str, Callable[[Context, TrayUi], int]] = {
    "tray": cmd_tray,
    "show": cmd_show,
}

