"""The tray icon: state at a glance, a menu rebuilt from current state each time it opens.

The icon is shown before the worker, the windows or "Start at login" exist (``attach`` hands
them over a moment later), so this module imports none of them at start; until then the menu
says "starting…" and offers Quit. The icon and tooltip follow the worker's ``Snapshot``;
notifications are shown only for
problems the user can act on (license, refused credentials, keyring, signature), each at most
once per ``NOTIFY_EVERY`` seconds and never more than one per ``NOTIFY_GAP`` seconds overall.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app import NAME
from app.model.text import printable
from app.support.i18n import N_, _
from app.tray.icons import Icons

if TYPE_CHECKING:  # imported where used: the icon is shown before any of these is loaded
    from app.core.status import Problem
    from app.core.tray_state import Snapshot
    from app.support.autostart import Autostart
    from app.tray.windows import Windows
    from app.tray.worker_controller import WorkerController


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
        controller: the worker's GUI-side handle (None: given later to ``attach``).
        windows: opens the windows (None: given later to ``attach``).
        icons: the state icons.
        autostart: the "Start at login" entry (None: the item is disabled).

    Signals:
        quitRequested(): the user chose Quit.
    """

    quitRequested = Signal()

    def __init__(self, controller: WorkerController | None, windows: Windows | None,
                 icons: Icons, autostart: Autostart | None = None) -> None:
        super().__init__()
        self.controller: WorkerController | None = None
        self.windows: Windows | None = None
        self.icons = icons
        self.autostart: Autostart | None = None
        self.snapshot: Snapshot | None = None
        self.tray = QSystemTrayIcon(icons.named("ok"))
        self.tray.setToolTip(_("{name}: starting…").format(name=NAME))
        self.menu = QMenu()
        self.menu.setObjectName("tray-menu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_activated)
        self.notifier = Notifier(self._notify)
        self.last_error = ""
        self.send_on_metered: bool | None = None  # the user's setting, once the worker read it
        if controller is not None and windows is not None:
            self.attach(controller, windows, autostart)
        else:
            self.rebuild_menu()

    def attach(self, controller: WorkerController, windows: Windows,
               autostart: Autostart | None) -> None:
        """Hand over what the menu needs beyond Quit, once it is built (after ``show``)."""
        self.controller = controller
        self.windows = windows
        self.autostart = autostart
        controller.ready.connect(self.update_state)
        controller.stateChanged.connect(self.update_state)
        if controller.snapshot is not None:
            self.update_state(controller.snapshot)
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
        from app.core.tray_state import reason_words

        lines = [_("{name}: {summary}").format(name=NAME, summary=snapshot.summary)]
        allowed = snapshot.sending_allowed
        reason = reason_words(allowed)
        if allowed != "allowed" and reason not in snapshot.summary:
            lines.append(_(NOT_SENDING).format(reason=reason))
        lines += snapshot.details[:4]
        return "\n".join(printable(line) for line in lines)

    def _notify(self, title: str, message: str) -> None:
        from app.core.tray_state import reason_words

        if QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(_("{name}: {summary}").format(name=NAME, summary=printable(title)),
                                  printable(reason_words(message)),
                                  QSystemTrayIcon.MessageIcon.Warning, 15_000)

    # -- menu -----------------------------------------------------------------------------------

    def rebuild_menu(self) -> None:
        """Rebuild the menu from the current state (called each time it is about to show)."""
        menu = self.menu
        menu.clear()
        controller, windows, snap = self.controller, self.windows, self.snapshot
        if controller is None or windows is None:  # the moment between the icon and the rest
            header = menu.addAction(_("{name}: starting…").format(name=NAME))
            header.setEnabled(False)
            menu.addSeparator()
            menu.addAction(_("Quit"), self.quitRequested.emit)
            return
        if snap is not None:
            header = menu.addAction(printable(snap.summary))
            header.setEnabled(False)
            menu.addSeparator()
        menu.addAction(_("License…"), lambda: windows.show("license"))
        consent = menu.addAction(_("What is sent…"), lambda: windows.show("consent"))
        if snap is not None and snap.consent_needed:
            consent.setText(_("What is sent… (please decide)"))
        menu.addAction(_("History…"), lambda: windows.show("history"))
        menu.addAction(_("Reset my identifier…"), lambda: windows.rights("reset"))
        menu.addAction(_("Forget me…"), lambda: windows.rights("forget"))
        menu.addSeparator()
        send = menu.addAction(_("Send now"), controller.send_now)
        send.setEnabled(snap is not None and not snap.sending)
        paused = snap is not None and snap.paused
        if paused:
            menu.addAction(_("Resume"), lambda: controller.set_paused(False))
        else:
            menu.addAction(_("Pause sending"), lambda: controller.set_paused(True))
        metered = menu.addAction(_(METERED_ITEM))
        metered.setObjectName("send-on-metered")
        metered.setCheckable(True)
        metered.setToolTip(_(METERED_TIP))
        metered.setChecked(bool(self.send_on_metered))
        metered.setEnabled(self.send_on_metered is not None)
        metered.toggled.connect(self.set_send_on_metered)
        from app.support.autostart import AutostartError

        login = menu.addAction(_("Start at login"))
        login.setCheckable(True)
        autostart = self.autostart
        try:
            login.setChecked(autostart is not None and autostart.is_enabled())
            login.setEnabled(autostart is not None)
        except AutostartError as exc:
            login.setEnabled(False)
            login.setToolTip(printable(exc))
        login.toggled.connect(self._set_autostart)
        menu.addSeparator()
        menu.addAction(_("About"), lambda: windows.show("about"))
        menu.addAction(_("Quit"), self.quitRequested.emit)

    def _read_metered(self) -> None:
        from app.core import settings

        assert self.controller is not None
        self.controller.run(lambda c: settings.send_on_metered(c.state), self._got_metered,
                            op="read metered setting", context=self)

    def _got_metered(self, allowed: bool) -> None:
        self.send_on_metered = allowed

    def set_send_on_metered(self, allowed: bool) -> None:
        """The menu's "Send on metered connections": stored by the worker, in the state DB."""
        from app.core import settings

        assert self.controller is not None
        self.controller.run(lambda c: settings.set_send_on_metered(c.state, allowed),
                            self._got_metered, op="set metered setting", context=self)

    def _set_autostart(self, enabled: bool) -> None:
        from app.support.autostart import AutostartError

        autostart = self.autostart
        if autostart is None:
            return
        try:
            if enabled:
                autostart.enable()
            else:
                autostart.disable()
            self.last_error = ""
        except AutostartError as exc:
            self.last_error = str(exc)
            self._notify(_("Start at login"), str(exc))

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            if self.windows is not None:  # None only in the moment before the rest is built
                self.windows.show("license")
