"""The tray's commands as plain functions of a ``Companion``, each returning one result.

Why here and not in the worker: what a command does (which service calls, in which order, what
the answer holds) is service logic and is tested without Qt; the worker only decides *where* it
runs (its thread) and *where* the answer goes (a callback on the GUI thread). Every function
may block on disk, keyring or network, so the windows never call them directly.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from app.core.companion import Companion
from app.core.consent_view import history_json, version_changed
from app.core.license import LicenseService, LicenseState, SeatChange
from app.core.results import ConsentResult, ConsentView, HistoryExport, LicenseInfo
from app.model.errors import CompanionError
from app.model.wire import mask_secret
from app.storage.export_file import write_private

log = logging.getLogger(__name__)

LICENSE_OPS = ("info", "reveal", "set", "clear", "verify", "activate", "deactivate")


def consent_view(companion: Companion) -> ConsentView:
    """The categories, the stored decisions and whether the consent version changed."""
    return ConsentView(tuple(companion.consent.states()), companion.consent.do_not_track,
                       version_changed(companion), companion.config.consent.version)


def grant(companion: Companion, categories: list[str] | None) -> ConsentResult:
    """Store a grant (None: every category)."""
    return ConsentResult(True, tuple(companion.grant(categories)))


def revoke(companion: Companion, categories: list[str] | None) -> ConsentResult:
    """Store a denial (None: every category); what is queued of those categories is deleted.

    The caller may have set the senders' ``interrupt`` to end a round in progress before this
    runs (so the denied categories stop leaving at once); it is cleared here in any case.
    """
    try:
        ids, deleted = companion.revoke(categories)
    finally:
        for sender in companion.senders.values():
            sender.interrupt.clear()
    return ConsentResult(False, tuple(ids), deleted)


def export_history(companion: Companion, path: str) -> HistoryExport:
    """Write every history entry (no limit) to ``path`` exactly as ``history --json`` prints it.

    A file that cannot be written is an answer (``error``), not an exception: the user chose
    the place and needs to read why it failed.
    """
    entries = list(companion.history(None))
    try:  # 0600 like the state directory's files (the dialog already asked to replace)
        write_private(Path(path), (history_json(entries) + "\n").encode("utf-8"), replace=True)
    except CompanionError as exc:
        return HistoryExport(path, 0, str(exc))
    return HistoryExport(path, len(entries))


def user_identifier(companion: Companion) -> str:
    """The identifier sent for this user ("" when it cannot be derived now)."""
    try:
        return companion.identity().user_identifier
    except CompanionError:
        return ""


def keyring_problem(service: LicenseService | None) -> str:
    """Why the keyring cannot be used now ("" when it answers or there is no license service).

    A keyring that went away (locked, its daemon gone) needs the user, so the tray asks this
    now and then and shows the answer.
    """
    if service is None:
        return ""
    try:
        service.key()
    except CompanionError as exc:
        return str(exc)
    except Exception as exc:  # jeepney/D-Bus errors are environment failures too
        return f"the keyring did not answer ({type(exc).__name__})"
    return ""


def license_info(companion: Companion, service: LicenseService | None, revealed: str = "",
                 error: str = "") -> LicenseInfo:
    """What the License window shows, without the network (one keyring read)."""
    if service is None:
        return LicenseInfo(False, companion.config.product.name)
    key = ""
    status = None
    try:
        key = service.key() or ""
        # The key was just read: a second keyring read (a second timeout when it hangs) would
        # add nothing.
        status = service.cached_status(check_key=False, key_known=bool(key))
    except CompanionError as exc:
        error = error or str(exc)
    known = bool(key and status)
    return LicenseInfo(
        available=True,
        product=companion.config.product.name,
        masked_key=mask_secret(key),
        revealed_key=revealed,
        state=LicenseState.NO_KEY if not key else (status.state if status else LicenseState.UNKNOWN),
        message=status.message if known and status else "",
        code=status.code if known and status else None,
        checked_at=status.checked_at if known and status else None,
        user_identifier=user_identifier(companion),
        error=error,
    )


def license_command(companion: Companion, service: LicenseService | None, op: str,
                    arg: object = None) -> LicenseInfo:
    """Run one of ``LICENSE_OPS`` and answer with the window's new picture.

    ``set`` (``arg``: the raw key) and ``clear`` follow the seat policy of
    ``LicenseService.replace_key``/``remove_key``. Always answers: a failure is the answer's
    ``error`` (the window shows it next to the key), never an exception.

    Raises:
        ValueError: ``op`` is not one of ``LICENSE_OPS`` (a caller's bug).
    """
    if op not in LICENSE_OPS:
        raise ValueError(f"unknown license operation {op!r}; one of {', '.join(LICENSE_OPS)}")
    if service is None:
        return LicenseInfo(False, companion.config.product.name,
                           user_identifier=user_identifier(companion),
                           error="license management is not available in this build")
    revealed, error, change, bug = "", "", SeatChange(), False
    try:
        if op == "set":
            change = service.replace_key(str(arg))
        elif op == "clear":
            change = service.remove_key()
        elif op == "verify":
            service.verify()
        elif op == "activate":
            service.activate()
        elif op == "deactivate":
            service.deactivate()
        elif op == "reveal":
            revealed = service.key() or ""
    except CompanionError as exc:
        error = str(exc)
    except Exception as exc:
        log.exception("license %s failed", op)
        error = f"internal error ({type(exc).__name__}); see the log file"
        bug = True
    info = license_info(companion, service, revealed, error)
    return dataclasses.replace(info, notice=change.notice, seat_kept=change.seat_kept,
                               internal_error=bug)
