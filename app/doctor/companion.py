"""``doctor`` for an open companion: the tray's About window ("Copy report").

The same checks as ``license-companion doctor``, with what the tray knows that the command
line does not: whether the desktop shows tray icons (asked through Qt on the GUI thread and
handed in) and the network state its watcher last read. Runs on the worker thread (it may wait
for the network and the keyring), never on the GUI thread.
"""

from __future__ import annotations

from typing import Any

from app.core.companion import Companion
from app.core.settings import send_on_metered
from app.core.status import CompanionStatus
from app.delivery.http import proxies_for, tls_context
from app.delivery.network import UNKNOWN_NETWORK, NetworkState
from app.doctor.check import DoctorReport
from app.doctor.report import DoctorSetup, run_doctor


def doctor_report(companion: Companion, *, tray_available: bool | None,
                  network: NetworkState = UNKNOWN_NETWORK) -> DoctorReport:
    """The report for this companion's configuration, state directory and policy.

    Args:
        companion: the open companion (its config, home and the administrator's policy).
        tray_available: whether a system tray is there (None: not known).
        network: the OS's network state as the tray's watcher read it.
    """
    return run_doctor(DoctorSetup(
        config=lambda: companion.config,
        home=companion.home,
        admin=companion.consent.admin,
        environ=dict(companion.environ),
        tray_available=None if tray_available is None else (lambda: tray_available),
        network=lambda: network,
        allow_metered=send_on_metered(companion.state),
        tls=tls_context,
        proxies_for=proxies_for,
        status=companion.status,
        offline=lambda status: _offline(companion, status),
        tray_running=lambda: True,  # asked from the running tray's About window
    ))


def _offline(companion: Companion, status: CompanionStatus) -> dict[str, Any] | None:
    """The license's offline grace, as ``host-info``'s ``license`` answer gives it."""
    service = companion.license
    if service is None or status.license is None:
        return None
    from app.door.license import offline_grace

    return offline_grace(service, status.license.status,
                         companion.config.license.offline_grace_days, companion.clock())
