"""The tray process: the start (``run_tray``), handing a message to a running tray (``forward``).

One instance per user and state directory (``app.tray.instance``); the application, the icon
and the loop (``app.tray.qt_app``).

Start order: the lock, the application, the icon shown, the event loop; everything else (the
worker, the windows, the local server, the host door, the network watcher) is built by
``app.tray.session.TraySession`` once the loop runs, so this module imports none of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication

from app import APP_ID, NAME
from app.storage.paths import ensure_dir
from app.tray.instance import SingleInstance
from app.tray.qt_app import (
    SHUTDOWN_TIMEOUT,
    _ensure_display,
    application,
    loop,
    show_icon,
)

log = logging.getLogger(__name__)

SEND_INTERVAL = 10.0  # seconds before retrying events that are due but were not sent
EXIT_OK, EXIT_CONFIG = 0, 2


def forward(state_dir: Path, message: str) -> tuple[bool, int | None]:
    """If a tray runs for this state directory, hand it ``message``.

    Returns:
        (running, pid): whether another instance holds the lock, and its pid.
    """
    instance = SingleInstance(state_dir)
    if instance.acquire():
        instance.release()
        return False, None
    pid = instance.holder_pid()
    app = QCoreApplication.instance() or QCoreApplication([APP_ID])
    delivered = instance.send(message)
    del app
    if not delivered:
        log.info("the running instance (pid %s) did not answer %r", pid, message)
    return True, pid


def run_tray(
    state_dir: Path,
    companion_factory: Callable[[], Any],
    license_factory: Callable[[Any], Any] | None,
    product: str,
    config_path: Path,
    *,
    show: str | None = None,
    interval: float = SEND_INTERVAL,
    windows_only: bool = False,
    out: Callable[[str], None] = print,
    login_args: Sequence[str] = (),
) -> int:
    """Run the tray (or, with ``windows_only``, just the window ``show``) until Quit.

    Args:
        state_dir: the state directory.
        companion_factory: builds the Companion (on the worker thread).
        license_factory: builds the license service for it, or None.
        product: the product's name.
        config_path: the vendor configuration in use (About).
        show: a window to open at start (``license``, ``consent``, ``history``, ``about``).
        interval: seconds between send rounds.
        windows_only: no tray and no send timer; quit when the last window closes.
        out: where to print messages for the user.
        login_args: options for "Start at login" to start us with (``--home``/``--config``
            as given, absolute; see ``app.support.autostart.login_args``).
    """
    from app.tray import first

    prepared = first.take(state_dir, windows_only)
    if prepared is not None:  # the icon is shown and the loop runs (app.tray.first)
        prepared.session = _session(prepared.app, prepared.instance, prepared.tray,
                                    prepared.icons, state_dir, companion_factory,
                                    license_factory, product, config_path, show, interval,
                                    windows_only, out, prepared.started, login_args)
        log.info("tray icon shown after %.2f s, before the command line was read",
                 prepared.shown_after)
        return EXIT_OK  # the session ends with the loop, in app.tray.first
    started = time.monotonic()
    ensure_dir(state_dir)
    instance = SingleInstance(state_dir)
    if not instance.acquire():
        pid = instance.holder_pid()
        app = QCoreApplication.instance() or QCoreApplication([APP_ID])
        message = f"show {show}" if show else "show"
        if instance.send(message):
            out(f"{NAME} is already running (pid {pid}); brought its window forward.")
        else:
            out(f"{NAME} is already running (pid {pid}).")
        del app
        return EXIT_OK
    try:
        return _run(instance, state_dir, companion_factory, license_factory, product,
                    config_path, show, interval, windows_only, out, started, login_args)
    finally:
        instance.release()


def _session(app: Any, instance: SingleInstance, tray: Any, icons: Any, state_dir: Path,
             companion_factory: Callable[[], Any], license_factory: Callable[[Any], Any] | None,
             product: str, config_path: Path, show: str | None, interval: float,
             windows_only: bool, out: Callable[[str], None], started: float,
             login_args: Sequence[str]) -> Any:
    """The session that builds everything beyond the icon once the loop runs (started)."""
    from app.tray.session import TraySession

    session = TraySession(app, instance, tray, icons, state_dir, companion_factory,
                          license_factory, product, config_path, show=show, interval=interval,
                          windows_only=windows_only, out=out, started=started,
                          login_args=login_args)
    session.start_soon()
    return session


def _run(instance: SingleInstance, state_dir: Path, companion_factory: Callable[[], Any],
         license_factory: Callable[[Any], Any] | None, product: str, config_path: Path,
         show: str | None, interval: float, windows_only: bool, out: Callable[[str], None],
         started: float, login_args: Sequence[str] = ()) -> int:
    from PySide6.QtWidgets import QSystemTrayIcon

    has_display = _ensure_display()
    app, icons = application(windows_only)
    tray = None
    wait_for_panel = False
    if not windows_only:
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray = show_icon(app, icons)
            log.info("tray icon shown after %.2f s", time.monotonic() - started)
        else:
            wait_for_panel = has_display
            why = "no display" if not has_display else "no system tray on this desktop"
            later = "; the icon appears as soon as a panel with one starts" if has_display \
                else ""
            out(f"{NAME}: {why}: running without an icon{later}; sending continues. "
                f"Open the windows with `{APP_ID} show license|consent|history`.")
            log.warning("%s: running headless", why)
    session = _session(app, instance, tray, icons, state_dir, companion_factory,
                       license_factory, product, config_path, show, interval, windows_only,
                       out, started, login_args)
    if wait_for_panel:
        session.wait_for_panel(lambda: show_icon(app, icons))
    return loop(app, tray, lambda: session.close(SHUTDOWN_TIMEOUT))
