"""``doctor [--json]``: why nothing arrives, one check per line, with what to do.

It opens nothing for writing (the state directory is not created, the database is read
read-only, no log file is written) and sends no telemetry. The network state comes from Qt's
``QNetworkInformation``, imported here only, lazily, and only when PySide6 is installed, so
every other command stays Qt-free; without it the report says the network state is not known.
"""

from __future__ import annotations

import logging

from app.cli.context import Context, out
from app.delivery.network import UNKNOWN_NETWORK, NetworkState

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
    from app.core.consent import system_policy
    from app.delivery.http import proxies_for, tls_context
    from app.doctor.report import MIN_FREE, DoctorSetup, run_doctor, stored_allow_metered
    from app.storage.config import load_config

    args = ctx.args
    report = run_doctor(DoctorSetup(
        config=lambda: load_config(args.config),
        home=ctx.home,
        admin=system_policy(),
        network=network_state,
        allow_metered=stored_allow_metered(ctx.home),
        tls=tls_context,
        proxies_for=proxies_for,
        min_free=MIN_FREE if args.min_free is None else args.min_free,
    ))
    out(report.to_json() if args.json else report.to_text())
    return report.exit_code
