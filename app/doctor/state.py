"""``doctor``'s checks of what the companion is doing: the license, the pause, consent, the
tray, drawn from the same account the tray icon and ``status`` show (``app.core.overall``).

Why apart from ``doctor.py``: those checks look at files, the keyring and the network without
opening the companion; these need its status (built only when a state database exists, so
``doctor`` still creates nothing on a machine where nothing ran yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.core.overall import Reason, license_relevant, license_words, overall
from app.core.tray_panel import NO_PANEL
from app.doctor.check import Check, Verdict
from app.model.errors import NO_KEY_SKIP_REASON
from app.support.i18n import _

if TYPE_CHECKING:
    from app.core.status import CompanionStatus

# A reason's code -> the doctor check it belongs to (one line each, in this order).
CHECK_NAMES = {
    "paused": "pause",
    "waiting-for-consent": "consent",
    "not-sending": "sending",
    "no-license-key": "license",
    "license-invalid": "license",
    "license-unknown": "license",
    "license-not-checked": "license",
    "server-failing": "server",
}


def _clock(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else _("never")


def _state_words(state: str) -> str:
    return {"valid": _("valid"), "invalid": _("invalid"), "unknown": _("unknown"),
            "no-key": _("no key")}.get(state, state)


def check_license(status: CompanionStatus, offline: dict[str, Any] | None) -> Check:
    """The license: its state, when it was last checked, and the offline grace."""
    lic = status.license
    if lic is None or not license_relevant(status):
        return Check("license", Verdict.OK, _("not used (KeyManager is not configured)"))
    state = lic.status
    detail = _("{state}; last check {when}: {described}").format(
        state=_state_words(state.state), when=_clock(state.checked_at),
        described=license_words(lic.described))
    if offline is not None:
        grace = (_("counts as valid offline until {when}").format(
            when=_clock(offline.get("until"))) if offline.get("counts_as_valid")
            else _("no offline grace: {reason}").format(reason=offline.get("reason")))
        detail += f"; {grace}"
    if state.state == "valid":
        return Check("license", Verdict.OK, detail)
    if state.state == "no-key":
        detail += "".join(f"; {b.title}: no license key; events for it are skipped "
                          '(without_key = "skip")' for b in status.backends
                          if b.waiting_because == NO_KEY_SKIP_REASON)
        return Check("license", Verdict.FAIL, detail, _("enter your license key "
                     "(license-companion license set, or the tray's License window)"))
    if state.state == "invalid":
        return Check("license", Verdict.FAIL, detail, _("enter a valid key (license-companion "
                     "license set) or ask the vendor; license-companion license status asks "
                     "again"))
    counts = bool(offline and offline.get("counts_as_valid"))
    return Check("license", Verdict.WARN if counts else Verdict.FAIL, detail,
                 _("connect to the internet and run license-companion license status (the tray "
                   "checks at start and on the vendor's schedule)"))


def _reason_check(reason: Reason) -> Check:
    verdict = Verdict.WARN if reason.code in ("paused", "not-sending") else Verdict.FAIL
    return Check(CHECK_NAMES[reason.code], verdict, f"{reason.title}: {license_words(reason.detail)}",
                 reason.fix)


def state_checks(status: CompanionStatus, *, offline: dict[str, Any] | None = None,
                 tray_running: bool | None = None) -> list[Check]:
    """One line for the overall state, then pause, consent, sending, server and license.

    Args:
        status: ``Companion.status()``.
        offline: ``host_license.offline_grace`` for the license (None: not known).
        tray_running: a tray answers on this state directory's socket (None: not checked).
    """
    state = overall(status)
    checks = [Check("state", Verdict.OK if state.good else Verdict.FAIL,
                    f"{state.code}: {state.summary}",
                    state.reasons[0].fix if state.reasons else "")]
    for name in ("pause", "consent", "sending", "server"):
        found = [r for r in state.reasons if CHECK_NAMES.get(r.code) == name]
        checks += [_reason_check(r) for r in found]
        if not found and name in ("pause", "consent"):
            checks.append(Check(name, Verdict.OK, _("not paused") if name == "pause"
                                else _("decided for every category")))
    checks.append(check_license(status, offline))
    if tray_running and NO_PANEL in status.warnings:
        checks.append(Check("tray", Verdict.WARN, NO_PANEL, "start the desktop's panel or "
                            "enable a system tray (e.g. the AppIndicator extension on GNOME); "
                            "meanwhile: license-companion show license|consent|history"))
    elif tray_running is not None:
        checks.append(Check("tray", Verdict.OK, _("running (it sends by itself)")) if tray_running
                      else Check("tray", Verdict.WARN, _("not running: events wait until it "
                                 "starts or license-companion send runs"),
                                 _("start it (license-companion tray, or log in again if it "
                                   "starts at login)")))
    return checks


def companion_checks(status: Callable[[], CompanionStatus | None],
                     offline: Callable[[CompanionStatus], dict[str, Any] | None],
                     tray_running: Callable[[], bool | None]) -> list[Check]:
    """``state_checks`` for the companion ``status`` gives (None: nothing ran here yet)."""
    try:
        current = status()
    except Exception as exc:  # the other checks say why (database, keyring, config)
        return [Check("state", Verdict.FAIL, _("cannot be read: {error}").format(error=exc),
                      _("see the checks above"))]
    if current is None:
        return [Check("state", Verdict.WARN, _("nothing ran here yet (no state database)"),
                      _("start the tray (license-companion tray)"))]
    return state_checks(current, offline=offline(current), tray_running=tray_running())
