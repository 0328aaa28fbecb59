"""The host door inside the tray process: Qt glue between ``HostDoor`` and the tray.

The endpoint's threads must never wait on the GUI or on a send round, so the two things only
the tray can do are handed to them as calls that return at once:

- ``show(window)`` emits ``showRequested``, a signal of this object (which lives on the GUI
  thread), so the window opens on the GUI thread after the call returned;
- ``flush()`` / ``wake()`` emit the worker's queued signals (``send_now`` / ``round_soon``).

Which companion: the worker's own, taken when the worker says ``ready`` (it is built on the
worker thread; its database hands every thread a connection of its own, see
``app.door.door``). The door starts then (or at once, when it is made after that), after the
GUI is up, and stops before the worker
closes the companion. It is told (``notify``) after every worker command (consent, license)
and every state change, so watching hosts get their push at once; it takes the inbox at the
end of every send round and every state change the worker publishes, besides its own triggers
(start, a host connecting, ``flush``, ``wake``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.door.door import HostDoor, HostServerError
from app.door.ingest import take_inbox
from app.tray.qt_emit import emit
from app.tray.worker_controller import WorkerController

log = logging.getLogger(__name__)


class TrayDoor(QObject):
    """Opens the host endpoint for the tray's companion once the worker is ready.

    Args:
        controller: the tray's worker controller.
        show: opens a window by name on the GUI thread (``Windows.show``).
        out: where to tell the user that the endpoint could not open.
        parent: Qt parent (on the GUI thread).

    Signals:
        showRequested(str): a host asked for a window (emitted from a host thread, delivered
            queued on the GUI thread).
        opened(str): the endpoint listens at this address.
    """

    showRequested = Signal(str)
    opened = Signal(str)

    def __init__(self, controller: WorkerController, show: Callable[[str], object],
                 out: Callable[[str], None] = print, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.door: HostDoor | None = None
        self._show = show
        self._out = out
        self.showRequested.connect(self._on_show)
        controller.ready.connect(self._on_ready)
        controller.stateChanged.connect(self._on_state)
        controller.sendFinished.connect(self._on_state)
        controller.sendFinished.connect(self._take_inbox_without_door)
        controller.commandRan.connect(self._on_command)
        if controller.snapshot is not None:  # made after the worker said ready (tray start)
            self._on_ready(controller.snapshot)

    def _on_ready(self, _snapshot: object) -> None:
        companion = self.controller.worker.companion
        if companion is None or self.door is not None:
            return
        try:
            door = HostDoor(companion, show=lambda w: emit(self.showRequested, w),
                            flush=self.controller.send_now, wake=self.controller.round_soon)
            door.start()
        except HostServerError as exc:
            log.warning("host endpoint not opened: %s", exc)
            self._out(f"note: the endpoint for your application is not open: {exc}")
            self._take_inbox_without_door()
            return
        except OSError as exc:
            log.warning("host endpoint not opened: %s", exc.strerror or exc)
            self._take_inbox_without_door()
            return
        self.door = door
        log.info("host endpoint open at %s", door.address)
        emit(self.opened, str(door.address))

    def _take_inbox_without_door(self, _summary: object = None) -> None:
        """Without an endpoint hosts write to the inbox: the worker takes it at start and after
        every round, so those events are delivered all the same."""
        if self.door is None:
            self.controller.run(take_inbox, op="inbox")

    def _on_show(self, window: str) -> None:
        self._show(window)
        log.info("host: opened the %s window", window)

    def _on_state(self, _snapshot: object) -> None:
        if self.door is not None:
            self.door.notify()
            self.door.ingest_soon()

    def _on_command(self, _op: str) -> None:
        if self.door is not None:
            self.door.notify()

    def stop(self) -> None:
        """Close the endpoint (before the worker closes the companion); idempotent."""
        door, self.door = self.door, None
        if door is not None:
            door.stop()
            log.info("host endpoint closed")
