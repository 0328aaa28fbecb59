"""What the tray icon and its tooltip show, computed from ``CompanionStatus`` without Qt.

Why it lives below the worker: the rules (which icon, which summary, which problems) are plain
Python over typed status, so they are tested without a display; the worker only calls
``snapshot`` on its thread and emits the result.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from app.service.status import CompanionStatus, Problem


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


def keyring_problem(message: str) -> Problem:
    """The keyring cannot be used (found by the worker's periodic probe)."""
    return Problem("keyring", "Keyring unavailable", message)


def snapshot(status: CompanionStatus, *, sending: bool = False, paused: bool = False,
             keyring: str = "") -> Snapshot:
    """The tray's state for this status.

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
    if problems:
        level = Level.ATTENTION
    elif sending:
        level = Level.SENDING
    elif paused:
        level = Level.PAUSED
    else:
        level = Level.OK
    if problems:
        summary = problems[0].title + (f" (+{len(problems) - 1} more)" if len(problems) > 1
                                       else "")
    elif sending:
        summary = f"Sending ({queued} queued)"
    elif paused:
        summary = "Sending paused"
    elif allowed != "allowed":
        summary = "Not sending: " + allowed
    else:
        summary = "All good" + (f", {queued} queued" if queued else "")
    details = [f"{queued} event(s) queued"]
    if last_success:
        details.append("last delivered " + time.strftime("%H:%M", time.localtime(last_success)))
    details += [f"{p.title}: {p.message}" for p in problems]
    return Snapshot(level, summary, tuple(details), tuple(problems), queued, sending, paused,
                    allowed, status.consent_needed, last_success)
