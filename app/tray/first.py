"""The tray started with no options (as the desktop, a menu entry or "Start at login" without
``--home``/``--config`` start it): its icon before the command line is read.

Why: the command line's parser, logging, the vendor configuration and their imports take about
as long as Qt itself; none of it is needed to show the icon. With no options there is nothing to
parse that could change what the icon needs (the state directory for the single-instance lock
is the default one, ``app.storage.paths.state_dir(None)``), so this takes the lock, shows the
icon, starts the event loop and then runs the ordinary start (``rest``: the command line,
logging, the config check, ``app.tray.app.run_tray``) on the loop's first turn. ``run_tray``
finds the prepared start (``take``) and hands its session to it instead of starting a second
loop; this module ends the session when the loop ends.

Anything unusual (no display, no system tray, another instance holds the lock, the state
directory cannot be made) returns None before an icon is shown, and the caller runs the
ordinary start, which reports it as before.
"""

from __future__ import annotations

import linecache
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("app.tray.app")

EXIT_BUG = 70


class FirstStart:
    """The icon shown before the command line was read, waiting for ``run_tray``.

    A plain class, not a dataclass: ``dataclasses`` would be one more import before the icon.

    Attributes:
        state_dir: the (default) state directory whose lock is held.
        instance: the single-instance lock and socket (``app.tray.instance.SingleInstance``).
        app: the ``QApplication``.
        icons: its icons.
        tray: the icon, shown.
        started: ``time.monotonic()`` at the start.
        shown_after: seconds from the start to ``tray.show()``.
        session: the ``TraySession`` ``run_tray`` built, once it did.
    """

    def __init__(self, state_dir: Path, instance: Any, app: Any, icons: Any, tray: Any,
                 started: float, shown_after: float) -> None:
        self.state_dir, self.instance, self.app, self.icons = state_dir, instance, app, icons
        self.tray, self.started, self.shown_after = tray, started, shown_after
        self.session: Any = None


_prepared: FirstStart | None = None


def take(state_dir: Path, windows_only: bool) -> FirstStart | None:
    """The prepared start for this state directory, once (None: start as usual)."""
    global _prepared
    prepared = _prepared
    if prepared is None or windows_only or prepared.session is not None:
        return None
    if prepared.state_dir.resolve() != state_dir.resolve():
        return None
    return prepared


def icon_first(rest: Callable[[], int]) -> int | None:
    """Show the icon, then run ``rest()`` (the ordinary start) inside the event loop.

    Returns:
        The exit code, or None when nothing was started (the caller runs ``rest`` itself).
    """
    global _prepared
    started = time.monotonic()
    from app.storage.paths import ensure_dir, state_dir
    from app.tray import qt_app as ui
    from app.tray.instance import SingleInstance

    if not ui.display_available():
        return None
    home = state_dir(None)
    try:
        ensure_dir(home)
    except OSError:
        return None  # the ordinary start says what is wrong with it
    instance = SingleInstance(home)
    if not instance.acquire():
        return None  # the ordinary start tells the running one to come forward
    try:
        from PySide6.QtWidgets import QSystemTrayIcon

        app, icons = ui.application()
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None  # the ordinary start runs headless and says so
        tray = ui.show_icon(app, icons)
        prepared = _prepared = FirstStart(home, instance, app, icons, tray, started,
                                          time.monotonic() - started)
        code = _run(app, tray, prepared, rest)
    finally:
        _prepared = None
        instance.release()
    return code


def _run(app: Any, tray: Any, prepared: FirstStart, rest: Callable[[], int]) -> int:
    from PySide6.QtCore import QTimer

    from app.tray import qt_app as ui

    codes: list[int] = []

    def the_rest() -> None:
        try:
            codes.append(rest())
        except SystemExit as exc:  # the parser's own exit (cannot happen without options)
            codes.append(exc.code if isinstance(exc.code, int) else 2)
        except BaseException:
            log.exception("starting the tray")
            codes.append(EXIT_BUG)
        linecache.clearcache()  # PySide6 read the source of every module imported since Qt
        if prepared.session is None:  # the start ended before the tray's (e.g. a bad config)
            app.exit(codes[-1])

    def end() -> int:
        if prepared.session is not None:
            return int(prepared.session.close(ui.SHUTDOWN_TIMEOUT))
        return codes[-1] if codes else 0

    QTimer.singleShot(0, the_rest)
    return ui.loop(app, tray, end)
