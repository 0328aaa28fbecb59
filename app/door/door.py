"""The host door as the tray starts it: the endpoint, its answers, and the inbox, in one object.

The tray builds ``HostDoor(companion, show=..., flush=..., wake=...)`` after the companion,
calls ``start()`` once the GUI is up and ``stop()`` before closing the companion; ``notify()``
after it changed consent or the license (so ``watch`` pushes at once); ``ingest_soon()`` at each
send round. Everything runs on the endpoint's own threads, never the GUI thread, and nothing
polls: the inbox is taken at start, when asked, when a host connects and on ``flush``/``wake``.

Which companion: the tray worker's own. Its SQLite connections are per thread
(``Database.connection``), so the endpoint's writer thread commits on a connection of its own
(and group-commits with nested ``Database.write()``) while the worker sends on another; consent
and the license answer are read from the state database each time, so both threads see the
same state. The license service's HTTP client is wrapped once (``install_recorder``) to note
signed times, before the endpoint opens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from app.core.companion import Companion
from app.door.companion_side import CompanionHost
from app.door.endpoint import HostServerError, Limits, endpoint_path
from app.door.ingest import IngestReport, ingest_inbox
from app.door.server import HostServer
from app.storage.inbox import Inbox, inbox_dir

log = logging.getLogger(__name__)

__all__ = ["HostDoor", "HostServerError"]


class HostDoor:
    """The endpoint of one companion, with the inbox ingested on its writer thread.

    Args:
        companion: the product.
        show: opens a window on the GUI thread ("license", "consent", "history"); must return
            at once (emit a queued signal).
        flush: starts a send round on the worker; must return at once.
        wake: asks the worker for an ordinary round soon (another process stored events);
            must return at once.
        path: the socket (default: derived from ``[product] id``).
        limits: what one client may cost.
    """

    def __init__(self, companion: Companion, *, show: Callable[[str], None] | None = None,
                 flush: Callable[[], None] | None = None,
                 wake: Callable[[], None] | None = None, path: Path | str | None = None,
                 limits: Limits | None = None) -> None:
        self.host = CompanionHost(companion, show=show, flush=flush, wake=wake)
        self.inbox = Inbox(inbox_dir(companion.home))
        self.last_ingest = IngestReport()
        self.server = HostServer(self.host, path or endpoint_path(companion.config), limits,
                                 chore=self.ingest)

    @property
    def address(self) -> Path | str:
        """The socket (or on Windows the pipe name) hosts connect to."""
        return self.server.path

    def start(self) -> None:
        """Open the endpoint; the inbox is ingested at once (on the writer thread).

        Raises:
            HostServerError: another companion serves the address, or it is unsafe.
        """
        self.inbox.ensure()
        self.server.start()

    def stop(self) -> None:
        """Close the endpoint (what was read is committed first) and remove the socket."""
        self.server.stop()
        self.host.wakes.cancel()  # no coalesced wake or flush reaches a tray shutting down
        self.host.flushes.cancel()

    def notify(self) -> None:
        """Consent or license changed: push to watching hosts now."""
        self.server.notify()

    def ingest_soon(self) -> None:
        """Take the inbox at the writer's next idle moment (call it at each send round)."""
        self.server.run_chore_soon()

    def ingest(self) -> IngestReport:
        """Take the inbox now, on the calling thread (the writer's chore)."""
        report = ingest_inbox(self.inbox, self.host)
        if report.accepted or report.rejected:
            log.info("inbox: %d events taken, %d bad lines kept aside", report.accepted,
                     report.rejected)
        self.last_ingest = report
        return report

    def rejected_total(self) -> int:
        """Bad inbox lines kept aside so far (for ``status``)."""
        return self.inbox.rejected_count()
