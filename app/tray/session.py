"""What the tray builds after its icon is shown: the worker, the windows, the host door, each on
its own turn of the event loop; the network watcher when a round first needs it.

Why after the icon: the user sees the tray start when the icon appears; none of these is
needed for that, and together they cost more than the icon itself (the service layer, the
host endpoint, Qt's network module). Building them one step per loop turn lets the icon be
docked and painted in between. Until ``attach`` the tray's menu offers only Quit.

Once the worker is ready, Python's source-line cache is emptied: PySide6 reads the source of
every module imported after it (to see whether the module uses PySide6), and those lines would
otherwise stay in memory for as long as the tray runs.
"""

from __future__ import annotations

import gc
import linecache
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from app import APP_ID

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from app.tray.icons import Icons
    from app.tray.instance import SingleInstance
    from app.tray.tray_icon import TrayIcon
    from app.tray.windows import Windows
    from app.tray.worker_controller import WorkerController

log = logging.getLogger("app.tray.app")

EXIT_OK, EXIT_CONFIG = 0, 2


class TraySession(QObject):
    """The parts of a running tray beyond its icon, built in steps once the loop runs.

    Args:
        app: the application.
        instance: the single-instance lock and socket (listens once built).
        tray: the icon already shown, or None (headless, or a windows-only process).
        icons: the application icons.
        state_dir: the state directory.
        companion_factory: builds the Companion (on the worker thread).
        license_factory: builds the license service for it, or None.
        product: the product's name.
        config_path: the vendor configuration in use (About).
        show: a window to open at start, or None.
        interval: seconds between send rounds.
        windows_only: no sending of its own, no host door, no network watcher.
        out: where to print messages for the user.
        started: ``time.monotonic()`` when the tray began starting (log lines).
        login_args: options for "Start at login".
    """

    def __init__(self, app: QApplication, instance: SingleInstance, tray: TrayIcon | None,
                 icons: Icons, state_dir: Path, companion_factory: Callable[[], Any],
                 license_factory: Callable[[Any], Any] | None, product: str, config_path: Path,
                 *, show: str | None, interval: float, windows_only: bool,
                 out: Callable[[str], None], started: float,
                 login_args: Sequence[str] = ()) -> None:
        super().__init__()
        self.app, self.instance, self.tray, self.icons = app, instance, tray, icons
        self.state_dir, self.product, self.config_path = state_dir, product, config_path
        self._companion_factory, self._license_factory = companion_factory, license_factory
        self._show, self._interval, self.windows_only = show, interval, windows_only
        self._out, self._started, self._login_args = out, started, tuple(login_args)
        self.controller: WorkerController | None = None
        self.windows: Windows | None = None
        self.door: Any = None
        self.exit_code = EXIT_OK
        self._asked_consent = False
        self._panel_watch: Any = None  # watching for a system tray to appear (none at start)
        self._steps: list[Callable[[], None]] = [self._build_worker_and_windows]
        if not windows_only:
            self._steps += [self._open_host_door]

    def start_soon(self) -> None:
        """Build the parts, one step per loop turn, starting once the event loop runs."""
        QTimer.singleShot(0, self._next_step)

    def _next_step(self) -> None:
        if not self._steps:
            return
        step = self._steps.pop(0)
        try:
            step()
        finally:
            linecache.clearcache()  # what PySide6 read of the modules this step imported
            if self._steps:
                QTimer.singleShot(0, self._next_step)

    # -- the steps --------------------------------------------------------------------------

    def _build_worker_and_windows(self) -> None:
        from app.tray.windows import Windows
        from app.tray.worker_controller import WorkerController

        controller = WorkerController(self._companion_factory, self._license_factory,
                                      self._interval, sending=not self.windows_only)
        self.controller = controller
        self.windows = windows = Windows(controller, self.product, self.state_dir,
                                         self.config_path, self.icons)
        self.instance.messageReceived.connect(self._on_message)
        self.instance.listen()
        if not self.windows_only:
            controller.watch_network_when_needed(self._network_watcher)
        controller.fatal.connect(self._on_fatal)
        controller.ready.connect(self._on_ready)
        self._attach_tray()
        controller.start()
        if self._panel_watch is not None and self._panel_watch.watching:
            self._note_panel(True)
        if self._show:
            windows.show(self._show)

    def _attach_tray(self) -> None:
        """Give the icon its full menu, once both the icon and the worker are there."""
        if self.tray is None or self.controller is None or self.windows is None:
            return
        from app.support.autostart import Autostart, default_command

        self.tray.attach(self.controller, self.windows,
                         Autostart(default_command(self._login_args)))

    def wait_for_panel(self, show_icon: Callable[[], TrayIcon]) -> None:
        """No system tray yet: show the icon (``show_icon()``) as soon as a panel offers one
        (``app.tray.panel_watch``); meanwhile ``status`` and ``doctor`` say it has none."""
        from app.tray.panel_watch import PanelWatch

        def appeared() -> None:
            self.tray = show_icon()
            log.info("tray icon shown after %.2f s, once a panel appeared",
                     time.monotonic() - self._started)
            self._attach_tray()
            self._note_panel(False)

        self._panel_watch = PanelWatch(appeared, parent=self)
        self._panel_watch.start()

    def _note_panel(self, waiting: bool) -> None:
        from app.core import tray_panel

        def note(companion: Any) -> None:
            try:
                tray_panel.note(companion.state, waiting, companion.clock())
            except Exception as exc:  # e.g. a read-only state directory: only status misses it
                log.warning("cannot record whether the tray has a panel: %s", exc)

        if self.controller is not None:
            self.controller.run(note, op="note-panel")

    def _open_host_door(self) -> None:
        """The endpoint hosts talk to; it opens once the worker is ready (a windows-only
        process next to a running tray has none: that tray serves it)."""
        from app.tray.door import TrayDoor

        assert self.controller is not None and self.windows is not None
        self.door = TrayDoor(self.controller, self.windows.show, self._out)

    def _network_watcher(self) -> QObject:
        """The OS's network state (``app.tray.netinfo``; without a backend: "unknown"), loaded
        when the worker first needs it (``WorkerController.watch_network_when_needed``)."""
        from app.tray.netinfo import NetworkWatcher

        return NetworkWatcher(self.app)

    # -- events -----------------------------------------------------------------------------

    def _on_message(self, message: str) -> None:
        if self.windows is None:
            return
        _cmd, _sep, what = message.partition(" ")
        if what:
            self.windows.show(what)
        else:
            self.windows.bring_forward()

    def _on_fatal(self, message: str) -> None:
        self._out(f"{APP_ID}: error: {message}")
        self.exit_code = EXIT_CONFIG
        self.app.quit()

    def _on_ready(self, snapshot: Any) -> None:
        log.info("worker ready after %.2f s: %s", time.monotonic() - self._started,
                 snapshot.summary)
        if not self.windows_only and snapshot.consent_needed and not self._asked_consent:
            self._asked_consent = True
            assert self.windows is not None
            self.windows.show("consent")  # first run: ask once, without blocking anything
        linecache.clearcache()  # what PySide6 read of every module's source (see above)
        gc.collect()  # the start's garbage, before the tray settles into idle

    # -- the end ----------------------------------------------------------------------------

    def close(self, shutdown_timeout: float) -> int:
        """Close the windows, the host door, then the worker; returns the exit code.

        When a request is still in flight after ``shutdown_timeout`` the process exits at once
        (its events stay queued and go next time; Qt would abort destroying a running thread).
        """
        self._steps.clear()
        if self._panel_watch is not None:
            self._panel_watch.stop()
            self._note_panel(False)
        if self.tray is not None:
            self.tray.hide()  # one shown once a panel appeared is not the loop's to hide
        if self.windows is not None:
            self.windows.close_all()
        door, self.door = self.door, None
        if door is not None:  # before the worker closes the companion it uses
            try:
                door.stop()
            except Exception:
                log.exception("closing the host endpoint")
        controller, self.controller = self.controller, None
        if controller is not None and not controller.shutdown(shutdown_timeout):
            log.warning("quitting with a request in flight; its events stay queued")
            logging.shutdown()
            os._exit(self.exit_code)
        return self.exit_code
