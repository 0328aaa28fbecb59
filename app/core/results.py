"""The answers the tray's commands give: plain frozen dataclasses, no Qt.

They are built on the worker thread (``app.core.commands``, the send rounds) and read on the
GUI thread by the windows, so they must be immutable and hold no connection, widget or lock.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.license import LicenseState
from app.model.errors import CompanionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LicenseInfo:
    """What the license window shows; never the clear key unless ``revealed``.

    Attributes:
        available: a license service exists in this build/configuration.
        product: the product name.
        masked_key: the key masked (``9cc2…1541``), "" when none is stored.
        revealed_key: the clear key, only in answer to an explicit reveal request.
        state: the ``LicenseState`` (``NO_KEY`` when no key is stored).
        message: the server's (or our) words about the state.
        code: the server's response code, if any.
        checked_at: when the server last answered (epoch seconds), if ever.
        user_identifier: the identifier sent for this user.
        error: why the last operation failed ("" when it did not).
        notice: what happened to this computer's seat for the previous key when a key was
            replaced or removed ("" when it held none).
        seat_kept: the previous key's seat could not be freed (``notice`` says how to).
        internal_error: the operation failed with a bug of ours (``error`` says so), not the
            environment: the window stops offering key entry.
    """

    available: bool
    product: str = ""
    masked_key: str = ""
    revealed_key: str = field(default="", repr=False)
    state: LicenseState = LicenseState.UNKNOWN
    message: str = ""
    code: int | None = None
    checked_at: float | None = None
    user_identifier: str = ""
    error: str = ""
    notice: str = ""
    seat_kept: bool = False
    internal_error: bool = False


@dataclass(frozen=True)
class SendSummary:
    """What one "send" (a timer round or a forced drain) did, over all backends."""

    forced: bool
    requests: int = 0
    delivered: int = 0
    flagged: int = 0
    rejected: int = 0
    stopped: tuple[str, ...] = ()
    remaining: int = 0

    def plus(self, reports: Iterable[Any]) -> SendSummary:
        """This summary with one round's ``RoundReport`` items (one per backend) added."""
        reports = list(reports)
        return dataclasses.replace(
            self,
            requests=self.requests + sum(r.requests for r in reports),
            delivered=self.delivered + sum(r.delivered for r in reports),
            flagged=self.flagged + sum(r.flagged for r in reports),
            rejected=self.rejected + sum(r.rejected for r in reports),
            stopped=self.stopped + tuple(f"{r.backend}: {r.stopped}" for r in reports
                                         if r.stopped),
        )


@dataclass(frozen=True)
class ConsentResult:
    """Answer to a grant or revoke: the categories changed and the queued events deleted."""

    granted: bool
    categories: tuple[str, ...]
    deleted: int = 0


@dataclass(frozen=True)
class ConsentView:
    """What the consent window needs to draw its switches."""

    states: tuple[Any, ...]  # ConsentPolicy.states(): CategoryState items
    do_not_track: bool
    version_changed: bool
    version: int


@dataclass(frozen=True)
class HistoryExport:
    """The whole history written as ``history --json`` prints it.

    Attributes:
        path: where it was (or should have been) written.
        count: entries written.
        error: why nothing was written ("" when it was).
    """

    path: str
    count: int = 0
    error: str = ""


@dataclass(frozen=True)
class CommandError:
    """A command failed; ``message`` is for the user (environment problems are not bugs).

    Attributes:
        op: what was asked (``history``, ``license set``...), for the log.
        message: what went wrong, in words a user can act on.
        bug: the failure was not an environment problem but a defect (logged with a traceback).
    """

    op: str
    message: str
    bug: bool = False


def command_error(op: str, exc: Exception) -> CommandError:
    """How a failed command is reported: a ``CompanionError`` (the environment: disk, keyring,
    network, bad input) in its own words; anything else is a bug, logged with its traceback."""
    if isinstance(exc, CompanionError):
        return CommandError(op, str(exc))
    log.error("%s failed", op, exc_info=exc)
    return CommandError(op, f"internal error ({type(exc).__name__}); see the log file", True)
