"""The tray's Qt application: the display check, the ``QApplication`` in the user's language,
the icon shown first, and the event loop that quits on SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication

from app import APP_ID, NAME, ORGANIZATION, __version__

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0  # seconds an in-flight request may take to finish at quit


def display_available() -> bool:
    """A display to show an icon on (not Qt's offscreen platform); changes nothing."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                    or os.environ.get("QT_QPA_PLATFORM"))
    return True


def _ensure_display() -> bool:
    """On X11/Wayland desktops without any display, fall back to Qt's offscreen platform."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return False
    return os.environ.get("QT_QPA_PLATFORM") != "offscreen"


def setup_language() -> str:
    """The tray's texts, numbers and dates in the user's language (``app.support.i18n``); returns it.

    Numbers and dates follow the chosen language, with the desktop's own formats when that is
    the desktop's language (a German desktop in Austria keeps its Austrian formats).
    """
    from PySide6.QtCore import QLocale

    from app.support import i18n

    system = QLocale.system()
    chosen = i18n.choose_language(system=system.name())
    language = i18n.setup(chosen)
    same = chosen.split("_")[0] == system.name().split("_")[0] and system.name() != "C"
    QLocale.setDefault(system if same else QLocale(chosen))
    log.info("language: %s (catalog %s)", chosen, language)
    return language


def _quit_on_signals(app: QCoreApplication) -> Callable[[], None]:
    """Quit the event loop on SIGINT/SIGTERM without a polling timer; returns the undo.

    Python runs signal handlers only between bytecodes, and Qt's loop runs none while idle. The
    signal module writes the signal's number to a socket Qt watches, so the loop wakes exactly
    when a signal arrives (no periodic wake-up to let the handler run).
    """
    import socket

    from PySide6.QtCore import QSocketNotifier

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: quitting", signum)
        app.quit()

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread: fall back to handlers alone
        previous_fd = None
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            reader.recv(64)  # the handler itself has run (or runs right after this slot)
        except OSError:
            pass

    notifier.activated.connect(drain)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        notifier.setEnabled(False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()

    return restore


def application(windows_only: bool = False) -> Any:
    """The ``QApplication``, named, in the user's language, with the application icon set.

    Returns:
        (app, icons): the application and the ``app.tray.icons.Icons`` it uses.
    """
    from PySide6.QtWidgets import QApplication

    from app.tray.icons import Icons

    app = QApplication.instance() or QApplication([APP_ID])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(windows_only)
    setup_language()
    icons = Icons()
    app.setWindowIcon(icons.app())
    return app, icons


def show_icon(app: Any, icons: Any) -> Any:
    """The tray icon, shown now with a menu of Quit alone (``TraySession`` attaches the rest)."""
    from app.tray.tray_icon import TrayIcon

    tray = TrayIcon(None, None, icons)
    tray.quitRequested.connect(app.quit)
    tray.show()
    return tray


def loop(app: Any, tray: Any, end: Callable[[], int]) -> int:
    """Run the event loop until Quit (or SIGINT/SIGTERM); then hide the icon and ``end()``."""
    restore_signals = _quit_on_signals(app)
    try:
        app.exec()
    finally:
        restore_signals()
        if tray is not None:
            tray.hide()
        exit_code = end()
    return exit_code
