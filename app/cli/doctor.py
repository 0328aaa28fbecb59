"""``doctor [--json]``: why nothing arrives, one check per line, with what to do.

It opens nothing for writing (the state directory is not created, the database is read
read-only, no log file is written) and sends no telemetry. The network state comes from Qt's
``QNetworkInformation``, imported here only, lazily, and only when PySide6 is installed, so
every other command stays Qt-free; without it the report says the network state is not known.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.cli.context import Context, out
from app.delivery.network import UNKNOWN_NETWORK, NetworkState

if TYPE_CHECKING:
    from app.core.companion import Companion
    from app.core.status import CompanionStatus
    from app.doctor.check import DoctorReport

log = logging.getLogger(__name__)


def network_state() -> NetworkState:
    """The OS's network information through Qt; "not known" where Qt or its backend is missing.

    Costs the import of PySide6.QtNetwork (and loading Qt's network-information plugin) for
    this command only.
    """
    try:
        from app.tray.netinfo import current_state
    except ImportError as exc:  # a build without Qt's network module
        log.info("no network information: %s", exc)
        return UNKNOWN_NETWORK
    try:
        return current_state()
    except Exception as exc:  # a plugin that fails to load must not stop the report
        log.info("no network information: %s", exc)
        return UNKNOWN_NETWORK


def cmd_doctor(ctx: Context) -> int:
    """``doctor``: every check; exit 0 when all pass, 1 when something needs attention."""
    # Imported here: only this command needs the checks (every other command starts faster).
    from app.core.wiring import reading_companion
    from app.storage.config import load_config
    from app.support.i18n import setup

    setup()  # the words in the user's language; --json keeps its check names and verdicts

    args = ctx.args
    companions: list[Companion] = []

    def status() -> CompanionStatus | None:
        companion = reading_companion(load_config(args.config), ctx.home)
        if companion is None:
            return None
        companions.append(companion)
        return companion.status()

    def offline(current: CompanionStatus) -> dict[str, Any] | None:
        service = companions[0].license if companions else None
        if service is None or current.license is None:
            return None
        from app.door.license import offline_grace

        config = companions[0].config
        return offline_grace(service, current.license.status, config.license.offline_grace_days,
                             time.time())

    def tray_running() -> bool | None:
        from app.door.endpoint import host_info

        return bool(host_info(load_config(args.config), ctx.home)["running"])

    try:
        report = _report(ctx, status, offline, tray_running)
    finally:
        for companion in companions:
            companion.close()
    out(report.to_json() if args.json else report.to_text())
    return report.exit_code


def _report(ctx: Context, status: Callable[[], CompanionStatus | None],
            offline: Callable[[CompanionStatus], dict[str, Any] | None],
            tray_running: Callable[[], bool | None]) -> DoctorReport:
    from app.core.consent import system_policy
    from app.delivery.http import proxies_for, tls_context
    from app.doctor.report import MIN_FREE, DoctorSetup, run_doctor
    from app.doctor.store import stored_allow_metered
    from app.storage.config import load_config

    args = ctx.args
    return run_doctor(DoctorSetup(
        config=lambda: load_config(args.config),
        home=ctx.home,
        admin=system_policy(),
        network=network_state,
        allow_metered=stored_allow_metered(ctx.home),
        tls=tls_context,
        proxies_for=proxies_for,
        min_free=MIN_FREE if args.min_free is None else args.min_free,
        status=status, offline=offline, tray_running=tray_running,
    ))
