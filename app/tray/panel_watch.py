"""Waiting for a tray host: the icon shows as soon as a panel with a system tray appears.

A tray started at login may come up before the desktop's panel, or on a desktop whose panel
is started later (or restarted). Qt answers ``QSystemTrayIcon.isSystemTrayAvailable()`` for
the moment it is asked (on X11 whether a window owns the ``_NET_SYSTEM_TRAY_S<n>`` selection,
freedesktop.org "System Tray Protocol Specification"), so the tray asks again every
``INTERVAL_MS`` until the answer is yes, then stops: one cheap question every two seconds,
and none once the icon is shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QSystemTrayIcon

log = logging.getLogger(__name__)

INTERVAL_MS = 2_000


class PanelWatch(QObject):
    """Calls ``appeared()`` once, on the GUI thread, when a system tray is there.

    Args:
        appeared: shows the icon.
        available: whether a system tray is there now (Qt's answer by default).
        interval_ms: how often to ask.
    """

    def __init__(self, appeared: Callable[[], None],
                 available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
                 interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._appeared = appeared
        self._available = available
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._check)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def watching(self) -> bool:
        return self.timer.isActive()

    def _check(self) -> None:
        if not self._available():
            return
        self.timer.stop()
        log.info("a system tray appeared: showing the icon")
        self._appeared()
