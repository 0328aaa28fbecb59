"""What the tray icon and its tooltip show, computed from ``CompanionStatus`` without Qt.

Why it lives below the worker: the rules (which icon, which summary, which problems) are plain
Python over typed status, so they are tested without a display; the worker only calls
``snapshot`` on its thread and emits the result.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.overall import overall
from app.core.status import CompanionStatus, Problem
from app.support.i18n import _, ngettext

# Reasons that are ``status`` problems too: the tooltip lists those from the problems.
PROBLEM_CODES = ("license-invalid", "keyring-unusable", "credentials-refused", "signature",
                 "not-configured", "warning")

# Why nothing is sent, as the service says it (with the command a CLI user would type), and
# how the tray and the windows say it: in the user's language, never naming a command.
REASONS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("DO_NOT_TRACK", lambda: _("DO_NOT_TRACK is set on this computer")),
    ("you have not agreed", lambda: _("you have not allowed any kind of data yet")),
    ("no backend is enabled", lambda: _("the vendor has not enabled any server")),
    ("no backend is configured", lambda: _("the vendor has not finished setting up the servers")),
    ("not configured:", lambda: _("the vendor has not finished setting up this server")),
    ("no license key stored", lambda: _("no license key is entered")),
)
_COMMAND = re.compile(r"\s*\((?:license-companion|`license-companion)[^)]*\)")


class Level(enum.Enum):
    """What the tray icon shows."""

    OK = "ok"
    SENDING = "sending"
    ATTENTION = "attention"
    PAUSED = "paused"


@dataclass(frozen=True)
class Snapshot:
    """The state the tray shows, computed on the worker thread.

    Attributes:
        level: the icon to show.
        summary: one line for the tooltip.
        details: further tooltip lines (queue, last success, problems).
        problems: what needs the user's attention.
        queued: events waiting, all backends.
        sending: a round is in progress.
        paused: the user paused sending.
        sending_allowed: "allowed" or why nothing is sent.
        consent_needed: the user never decided for the current consent version.
        last_success: when a backend last confirmed a request.
        state: ``Overall.code``, the same ``status --json`` prints as ``state.code``.
    """

    level: Level
    summary: str
    details: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    queued: int = 0
    sending: bool = False
    paused: bool = False
    sending_allowed: str = "allowed"
    consent_needed: bool = False
    last_success: float | None = None
    state: str = "ok"


def keyring_problem(message: str) -> Problem:
    """The keyring cannot be used (found by the worker's periodic probe)."""
    return Problem("keyring", _("Keyring unavailable"), message)


def reason_words(reason: str) -> str:
    """Why nothing is sent, for the tray and the windows: translated, without CLI commands."""
    for start, words in REASONS:
        if reason.startswith(start):
            return str(words())
    return _COMMAND.sub("", reason)


def snapshot(status: CompanionStatus, *, sending: bool = False, paused: bool = False,
             keyring: str = "") -> Snapshot:
    """The tray's state for this status: the icon is ``overall``'s, the one ``status`` and
    ``doctor`` show.

    Args:
        status: ``Companion.status()``; its problems are shown as they are.
        sending: a send round is in progress.
        paused: the user paused sending.
        keyring: why the keyring cannot be used ("" when it can), from the worker's probe;
            listed before the license's own problems.
    """
    problems = list(status.problems)
    if keyring:
        at = next((i for i, p in enumerate(problems) if p.key == "license"), len(problems))
        problems.insert(at, keyring_problem(keyring))
    queued = status.queued
    last_success = status.last_success
    allowed = status.sending
    state = overall(status, sending=sending, paused=paused, keyring=keyring)
    level = Level(state.level)
    others = [r for r in state.reasons if not r.code.startswith(PROBLEM_CODES)]
    if problems:
        summary = problems[0].title
        more = len(problems) - 1 + len(others)
    elif level is Level.SENDING:
        summary = ngettext("Sending ({count} queued)", "Sending ({count} queued)",
                           queued).format(count=queued)
        more = 0
    elif state.reasons:
        first = state.reasons[0]
        summary = (_("Not sending: {reason}").format(reason=reason_words(allowed))
                   if first.code == "not-sending" or (first.code == "waiting-for-consent"
                                                      and allowed != "allowed")
                   else first.title)
        more = len(state.reasons) - 1
    elif queued:
        summary = ngettext("All good, {count} queued", "All good, {count} queued",
                           queued).format(count=queued)
        more = 0
    else:
        summary = _("All good")
        more = 0
    if more:
        summary = ngettext("{title} (+{count} more)", "{title} (+{count} more)", more).format(
            title=summary, count=more)
    details = [ngettext("{count} event queued", "{count} events queued", queued)
               .format(count=queued)]
    if last_success:
        details.append(_("last delivered {time}").format(
            time=time.strftime("%H:%M", time.localtime(last_success))))
    details += [_("{title}: {message}").format(title=p.title, message=reason_words(p.message))
                for p in problems]
    details += [_("{title}: {message}").format(title=r.title, message=reason_words(r.detail))
                for r in others if r.code != "not-sending"]
    return Snapshot(level, summary, tuple(details), tuple(problems), queued, sending, paused,
                    allowed, status.consent_needed, last_success, state.code)
