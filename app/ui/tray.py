"""The tray icon: state at a glance, a menu rebuilt from current state each time it opens.

The icon and tooltip follow the worker's ``Snapshot``; notifications are shown only for
problems the user can act on (license, refused credentials, keyring, signature), each at most
once per ``NOTIFY_EVERY`` seconds and never more than one per ``NOTIFY_GAP`` seconds overall.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app import NAME
from app.i18n import N_, _
from app.model.text import printable
from app.service import settings
from app.service.autostart import Autostart, AutostartError
from app.service.status import Problem
from app.service.tray_state import Level, Snapshot, reason_words
from app.ui.icons import Icons
from app.ui.windows import Windows
from app.worker import WorkerController

NOTIFY_EVERY = 6 * 3600.0  # the same problem again after this long
NOTIFY_GAP = 60.0  # any two notifications at least this far apart
METERED_ITEM = N_("Send on metered connections")
METERED_TIP = N_("Off: nothing is sent while the system says the connection is metered "
                 "(e.g. a phone's hotspot)")
NOT_SENDING = N_("Not sending: {reason}")


class Notifier:
    """Rate-limits notifications about problems.

    Args:
        show: displays one (title, message).
        clock: seconds (monotonic is fine).
    """

    def __init__(self, show: Callable[[str, str], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._show = show
        self._clock = clock
        self._last_by_key: dict[str, float] = {}
        self._last_any = float("-inf")

    def consider(self, problems: tuple[Problem, ...]) -> Problem | None:
        """Show at most one of these problems now, if the limits allow; returns it."""
        now = self._clock()
        active = {p.key for p in problems}
        for key in list(self._last_by_key):
            if key not in active:  # solved: a relapse may be told again at once
                del self._last_by_key[key]
        if now - self._last_any < NOTIFY_GAP:
            return None
        for problem in problems:
            if not problem.notify:
                continue
            last = self._last_by_key.get(problem.key)
            if last is not None and now - last < NOTIFY_EVERY:
                continue
            self._last_by_key[problem.key] = now
            self._last_any = now
            self._show(problem.title, problem.message)
            return problem
        return None


class TrayIcon(QObject):
    """The system tray icon and its menu.

    Args:
        controller: the worker's GUI-side handle.
        windows: opens the windows.
        icons: the state icons.
        autostart: the "Start at login" entry.

    Signals:
        quitRequested(): the user chose Quit.
    """

    quitRequested = Signal()

    def __init__(self, controller: WorkerController, windows: Windows, icons: Icons,
                 autostart: Autostart) -> None:
        super().__init__()
        self.controller = controller
        self.windows = windows
        self.icons = icons
        self.autostart = autostart
        self.snapshot: Snapshot | None = None
        self.tray = QSystemTrayIcon(icons.for_level(Level.OK))
        self.tray.setToolTip(_("{name}: starting…").format(name=NAME))
        self.menu = QMenu()
        self.menu.setObjectName("tray-menu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_activated)
        self.notifier = Notifier(self._notify)
        self.last_error = ""
        self.send_on_metered: bool | None = None  # the user's setting, once the worker read it
        controller.ready.connect(self.update_state)
        controller.stateChanged.connect(self.update_state)
        self._read_metered()  # runs once the worker is up
        self.rebuild_menu()

    def show(self) -> None:
        """Put the icon in the tray."""
        self.tray.show()

    def hide(self) -> None:
        """Take the icon out of the tray."""
        self.tray.hide()

    # -- state ----------------------------------------------------------------------------------

    def update_state(self, snapshot: Snapshot) -> None:
        """Icon and tooltip from the worker's state; notify about new problems."""
        self.snapshot = snapshot
        self.tray.setIcon(self.icons.for_level(snapshot.level))
        self.tray.setToolTip(self.tooltip(snapshot))
        if snapshot.problems:
            self.notifier.consider(snapshot.problems)

    @staticmethod
    def tooltip(snapshot: Snapshot) -> str:
        """The tooltip: the summary, then the details, in words.

        When nothing is sent because of a rule (the administrator's policy, DO_NOT_TRACK), the
        rule's own words are in it even while a problem takes the summary line.
        """
        lines = [_("{name}: {summary}").format(name=NAME, summary=snapshot.summary)]
        allowed = snapshot.sending_allowed
        reason = reason_words(allowed)
        if allowed != "allowed" and reason not in snapshot.summary:
            lines.append(_(NOT_SENDING).format(reason=reason))
        lines += snapshot.details[:4]
        return "\n".join(printable(line) for line in lines)

    def _notify(self, title: str, message: str) -> None:
        if QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(_("{name}: {summary}").format(name=NAME, summary=printable(title)),
                                  printable(reason_words(message)),
                                  QSystemTrayIcon.MessageIcon.Warning, 15_000)

    # -- menu -----------------------------------------------------------------------------------

    def rebuild_menu(self) -> None:
        """Rebuild the menu from the current state (called each time it is about to show)."""
        menu = self.menu
        menu.clear()
        snap = self.snapshot
        if snap is not None:
            header = menu.addAction(printable(snap.summary))
            header.setEnabled(False)
            menu.addSeparator()
        menu.addAction(_("License…"), lambda: self.windows.show("license"))
        consent = menu.addAction(_("What is sent…"), lambda: self.windows.show("consent"))
        if snap is not None and snap.consent_needed:
            consent.setText(_("What is sent… (please decide)"))
        menu.addAction(_("History…"), lambda: self.windows.show("history"))
        menu.addSeparator()
        send = menu.addAction(_("Send now"), self.controller.send_now)
        send.setEnabled(snap is not None and not snap.sending)
        paused = snap is not None and snap.paused
        if paused:
            menu.addAction(_("Resume"), lambda: self.controller.set_paused(False))
        else:
            menu.addAction(_("Pause sending"), lambda: self.controller.set_paused(True))
        metered = menu.addAction(_(METERED_ITEM))
        metered.setObjectName("send-on-metered")
        metered.setCheckable(True)
        metered.setToolTip(_(METERED_TIP))
        metered.setChecked(bool(self.send_on_metered))
        metered.setEnabled(self.send_on_metered is not None)
        metered.toggled.connect(self.set_send_on_metered)
        login = menu.addAction(_("Start at login"))
        login.setCheckable(True)
        try:
            login.setChecked(self.autostart.is_enabled())
        except AutostartError as exc:
            login.setEnabled(False)
            login.setToolTip(printable(exc))
        login.toggled.connect(self._set_autostart)
        menu.addSeparator()
        menu.addAction(_("About"), lambda: self.windows.show("about"))
        menu.addAction(_("Quit"), self.quitRequested.emit)

    def _read_metered(self) -> None:
        self.controller.run(lambda c: settings.send_on_metered(c.state), self._got_metered,
                            op="read metered setting", context=self)

    def _got_metered(self, allowed: bool) -> None:
        self.send_on_metered = allowed

    def set_send_on_metered(self, allowed: bool) -> None:
        """The menu's "Send on metered connections": stored by the worker, in the state DB."""
        self.controller.run(lambda c: settings.set_send_on_metered(c.state, allowed),
                            self._got_metered, op="set metered setting", context=self)

    def _set_autostart(self, enabled: bool) -> None:
        try:
            if enabled:
                self.autostart.enable()
            else:
                self.autostart.disable()
            self.last_error = ""
        except AutostartError as exc:
            self.last_error = str(exc)
            self._notify(_("Start at login"), str(exc))

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.windows.show("license")
