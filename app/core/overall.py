"""The companion's state in one account: what the tray icon, its tooltip, ``status`` and
``doctor`` all say, so they cannot disagree.

Why one function over ``CompanionStatus``: each reader used to decide "all good" on its own
(the tray from its problems, ``status`` from the sending gate, ``doctor`` from its checks), and
each missed something the others knew: failed retries against a dead server, events that only
wait for consent, a license never checked, a pause. Here every such fact becomes a ``Reason``
once; the icon is green only when there is none.

No Qt here; the texts go through ``app.support.i18n`` (English on the command line, the user's
language in the tray). ``fix`` names a command: the tray never shows it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from app.core.status import CompanionStatus, Problem
from app.model.errors import NO_KEY_REASON, NO_KEY_SKIP_REASON
from app.support.i18n import N_, _, ngettext

# ``Overall.level`` values, the tray's icons (``tray_state.Level``).
OK, SENDING, ATTENTION, PAUSED = "ok", "sending", "attention", "paused"
NOT_AGREED = "you have not agreed"
NOT_CHECKED = "not checked with the server yet"
KEYRING_FIX = N_("unlock or start the OS keyring (license-companion doctor says how)")


@dataclass(frozen=True)
class Reason:
    """One thing that keeps the companion from "all good".

    Attributes:
        code: stable id (``paused``, ``waiting-for-consent``, ``no-license-key``,
            ``server-failing``, ``license-invalid``, ``license-unknown``,
            ``license-not-checked``, ``keyring-unusable``, ``not-sending``,
            ``credentials-refused``, ``signature``, ``not-configured``, ``warning``).
        level: the icon it calls for (``attention`` or ``paused``).
        title: a few words.
        detail: what is the case, with the facts (times, counts, the server's words).
        fix: what to do, for the command line and ``doctor`` ("" when nothing is to do).
    """

    code: str
    level: str
    title: str
    detail: str = ""
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """One entry of ``state.reasons`` in ``status --json``."""
        return {"code": self.code, "level": self.level, "title": self.title,
                "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Overall:
    """The companion's state: ``code`` is the first reason's (or ``sending`` / ``ok``)."""

    code: str
    level: str
    summary: str
    reasons: tuple[Reason, ...] = ()

    @property
    def good(self) -> bool:
        """Everything the user expects is true (the green icon)."""
        return self.level in (OK, SENDING)

    def to_json(self) -> dict[str, Any]:
        """``state`` in ``status --json``: ``code``, ``level``, ``good``, ``summary``,
        ``reasons`` (each ``code``, ``level``, ``title``, ``detail``, ``fix``)."""
        return {"code": self.code, "level": self.level, "good": self.good,
                "summary": self.summary, "reasons": [r.to_json() for r in self.reasons]}


def _clock(at: float | None) -> str:
    """``2026-12-07 10:02`` in local time (ISO order, never ambiguous)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "?"


def license_words(value: str) -> str:
    """A license line (``LicenseStatus.describe``) in the user's language: the marker and our
    own words translated; a server's message and a keyring's own words stay as they are."""
    own = {NOT_CHECKED: _("not checked with the server yet"),
           "not checked yet": _("not checked yet")}
    head, sep, rest = value.partition(": ")
    if head == "unknown" and sep:
        return _("unknown: {detail}").format(detail=own.get(rest, rest))
    for word, shown in (("valid", _("valid")), ("invalid", _("invalid"))):
        if value.startswith((word + ": ", word + " (")):  # then the server's words, the time
            return shown + value[len(word):]
    return own.get(value, value)


def _problem_reason(problem: Problem) -> Reason:
    key = problem.key
    code = ("license-invalid" if key == "license" else "keyring-unusable" if key == "keyring"
            else "credentials-refused" if key.startswith("blocked:")
            else "signature" if key.startswith("signature:")
            else "not-configured" if key.startswith("config:") else "warning")
    fixes = {
        "license-invalid": _("enter a valid key (license-companion license set) or ask the "
                             "vendor"),
        "keyring-unusable": _(KEYRING_FIX),
        "credentials-refused": _("the vendor must fix its configuration; then "
                                 "license-companion send retries"),
        "not-configured": _("the vendor must finish its configuration"),
    }
    return Reason(code, ATTENTION, problem.title, problem.message, fixes.get(code, ""))


def license_relevant(status: CompanionStatus) -> bool:
    """A license is checked at all: a license service and a configured KeyManager."""
    if status.license is None:
        return False
    try:
        return status.backend("keymanager").configured
    except KeyError:
        return False


def reasons(status: CompanionStatus, *, paused: bool | None = None, keyring: str = ""
            ) -> tuple[Reason, ...]:
    """Every reason the companion is not "all good", most pressing first.

    Args:
        status: ``Companion.status()`` (its problems, backends, license and consent).
        paused: the user paused the tray's sending (None: as ``status`` stored it).
        keyring: why the keyring cannot be used ("" when it can), from the tray's probe.
    """
    found: list[Reason] = []
    if keyring:
        found.append(Reason("keyring-unusable", ATTENTION, _("Keyring unavailable"), keyring,
                            _(KEYRING_FIX)))
    elif status.license is not None and (status.license.key or "").startswith("unknown:"):
        found.append(Reason("keyring-unusable", ATTENTION, _("Keyring unavailable"),
                            status.license.key or "", _(KEYRING_FIX)))
    found += [_problem_reason(p) for p in status.problems
              if not (p.key == "keyring" and found)]
    if status.paused if paused is None else paused:  # the user's own latest choice first
        found.append(Reason("paused", PAUSED, _("Sending paused"),
                            _("the tray does not send until you resume"),
                            "choose Resume sending in the tray menu"))
    allowed = status.sending
    if allowed.startswith(NOT_AGREED) or status.consent_needed or status.waiting_consent:
        count = status.waiting_consent
        detail = (ngettext("{count} event waits for your decision",
                           "{count} events wait for your decision", count).format(count=count)
                  if count else _("you have not decided what may be sent"))
        found.append(Reason("waiting-for-consent", ATTENTION, _("Waiting for your consent"),
                            detail, _("license-companion consent grant [CATEGORY ...] (or the "
                                      "tray's consent window)")))
    elif allowed != "allowed" and not allowed.startswith("paused"):
        found.append(Reason("not-sending", PAUSED, _("Not sending"), allowed, ""))
    for backend in status.backends:
        if not backend.configured:
            continue
        if backend.waiting_because in (NO_KEY_REASON, NO_KEY_SKIP_REASON):
            detail = (f"{backend.title}: no license key; events for it are skipped "
                      "(without_key = \"skip\")" if backend.waiting_because == NO_KEY_SKIP_REASON
                      else _("{title}: {count} events wait for a key").format(
                          title=backend.title, count=backend.queued))
            found.append(Reason("no-license-key", ATTENTION, _("No license key entered"),
                                detail,
                                _("enter your key: license-companion license set "
                                  "(or the tray's License window)")))
        elif backend.state.failures and not backend.state.blocked:
            since = backend.state.failing_since or backend.state.last_failure
            found.append(Reason(
                "server-failing", ATTENTION,
                _("{title} is not answering").format(title=backend.title),
                f"{backend.title}: {backend.state.failures} failed attempts since "
                f"{_clock(since)}; last: {backend.state.last_error or '?'}",
                _("check the network or proxy (license-companion doctor); the companion "
                  "retries by itself")))
    no_key = any(r.code == "no-license-key" for r in found)
    if license_relevant(status) and status.license is not None and not no_key:
        lic = status.license.status
        if lic.state == "unknown" and not lic.last_state and lic.problem in ("", NOT_CHECKED):
            found.append(Reason("license-not-checked", ATTENTION, _("License not checked yet"),
                                license_words(status.license.described),
                                _("license-companion license status --check (the tray checks "
                                  "it when it starts)")))
        elif lic.state == "unknown":
            found.append(Reason("license-unknown", ATTENTION, _("License not confirmed"),
                                license_words(status.license.described),
                                _("connect to the internet; license-companion doctor shows "
                                  "the offline grace")))
    return tuple(found)


def overall(status: CompanionStatus, *, sending: bool = False, paused: bool | None = None,
            keyring: str = "") -> Overall:
    """The state the tray, ``status`` and ``doctor`` show (see ``reasons`` for the args)."""
    found = reasons(status, paused=paused, keyring=keyring)
    if found:
        level = ATTENTION if any(r.level == ATTENTION for r in found) else PAUSED
        return Overall(found[0].code, level, found[0].title, found)
    if sending:
        return Overall("sending", SENDING, _("Sending"))
    return Overall("ok", OK, _("All good"))


def status_json(status: CompanionStatus) -> dict[str, Any]:
    """``status --json``: the status's own keys and ``state``, its one account (``overall``)."""
    return {**status.to_json(), "state": overall(status).to_json()}
