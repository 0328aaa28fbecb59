"""What ``status`` shows, as typed data: built once here, printed by the CLI, drawn by the tray.

Why a module of its own: the CLI's ``status`` (text and ``--json``) and the tray's icon and
tooltip show the same facts. Each problem (a backend that refused our credentials, a bad
signature, a database that was moved aside, an invalid license) is built once, here, as a
``Problem`` that carries both what the tray shows and the line ``status`` prints among its
warnings, so no reader has to rebuild it from a dict or match it on its text.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.license import LicenseState, LicenseStatus
from app.support.i18n import _

DISABLED = "disabled in the vendor configuration"



def warning_key(warning: str) -> str:
    """A stable ``Problem.key`` for a warning known only by its text (e.g. a database notice).

    Digits are left out so a warning whose count or time changes ("refused 3 so far", "4 so
    far") stays one problem for the notification rate limit instead of a new one each round.
    """
    stable = "".join(c for c in warning if not c.isdigit())
    return "warning:" + hashlib.sha256(stable.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Problem:
    """Something the user should know about.

    Attributes:
        key: stable id (``license``, ``keyring``, ``blocked:keymanager``...), for rate limiting.
        title: a few words.
        message: what is wrong and, where we know it, what to do.
        notify: worth a tray notification (the user can act on it); otherwise icon/tooltip only.
        warning: the line ``status`` prints for it under ``warnings`` ("" when it is not one,
            e.g. a backend that is not configured, which ``status`` shows on its own line).
    """

    key: str
    title: str
    message: str
    notify: bool = True
    warning: str = ""


@dataclass(frozen=True)
class BackendState:
    """One backend's send bookkeeping, as its ``Sender`` keeps it in the state database.

    Attributes:
        failures: failed attempts in a row (0 after a settled answer).
        next_at: our backoff: no attempt before this time (0: none).
        retry_after_until: the server's Retry-After: no attempt before this time.
        blocked: why sending stopped until the configuration changes (None: it did not).
        last_success: when a request was last delivered or flagged.
        last_failure: when an attempt last failed.
        last_error: the message of that failure.
        signature_warning: the last answer's signature problem (None: it verified).
        last_rejection: the server's message when it last refused events for good.
        last_rejection_at: when that was.
        rejected_total: events refused for good so far.
        batch_limit: a batch size reduced by a "too large" answer (None: the backend's own).
        batch_limit_until: when that reduced size may grow again.
        failing_since: when the current run of failed attempts began (None: not failing).
    """

    failures: int = 0
    next_at: float | None = None
    retry_after_until: float | None = None
    blocked: str | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_error: str | None = None
    signature_warning: str | None = None
    last_rejection: str | None = None
    last_rejection_at: float | None = None
    rejected_total: int = 0
    batch_limit: int | None = None
    batch_limit_until: float | None = None
    failing_since: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendState:
        """Read the stored JSON object; unknown keys (newer versions) are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["failures"] = int(known.get("failures") or 0)
        known["rejected_total"] = int(known.get("rejected_total") or 0)
        return cls(**known)


@dataclass(frozen=True)
class BackendStatus:
    """One backend as ``status`` shows it.

    Attributes:
        name: ``keymanager`` or ``telemetrydeck``.
        title: its name for people.
        enabled: enabled in the vendor configuration.
        problem: why it cannot send at all ("" when it is configured).
        url: where it sends.
        queued: events waiting for it.
        dropped: queued events removed unsent (the sum of ``dropped_by_reason``).
        dropped_by_reason: those per reason (``over_cap``, ``undecided_full``,
            ``policy_denied``, ``consent_revoked``; see ``app.storage.drops``).
        unreadable: queued events that no longer read back, kept aside unsent.
        state: its send bookkeeping.
        next_attempt_in: seconds until the next attempt is allowed (None: now, or never).
        waiting_because: why it waits ("" when it does not).
        problems: its problems, in the order ``status`` prints their warnings.
    """

    name: str
    title: str
    enabled: bool
    problem: str = ""
    url: str = ""
    queued: int = 0
    dropped: int = 0
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)
    unreadable: int = 0
    state: BackendState = field(default_factory=BackendState)
    next_attempt_in: float | None = None
    waiting_because: str = ""
    problems: tuple[Problem, ...] = ()

    @property
    def configured(self) -> bool:
        """Enabled, with every setting it needs."""
        return self.enabled and not self.problem

    def to_json(self) -> dict[str, Any]:
        """The backend's object in ``status --json`` (see ``CompanionStatus.to_json``)."""
        if not self.enabled:
            return {"enabled": False, "configured": False, "problem": self.problem}
        s = self.state
        return {
            "enabled": True,
            "configured": self.configured,
            "problem": self.problem,
            "url": self.url,
            "queued": self.queued,
            "dropped": self.dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "unreadable": self.unreadable,
            "blocked": s.blocked,
            "next_attempt_in": self.next_attempt_in,
            "waiting_because": self.waiting_because,
            "failures": s.failures,
            "last_success": s.last_success,
            "last_failure": s.last_failure,
            "last_error": s.last_error,
            "signature_warning": s.signature_warning,
            "last_rejection": s.last_rejection,
            "rejected_total": s.rejected_total,
            "failing_since": s.failing_since,
        }


def disabled_backend(name: str, title: str) -> BackendStatus:
    """A backend the vendor configuration leaves off (``status`` still lists it)."""
    return BackendStatus(name, title, enabled=False, problem=DISABLED)


def backend_problems(name: str, title: str, problem: str, state: BackendState
                     ) -> tuple[Problem, ...]:
    """What one enabled backend's state means for the user, each problem built once.

    Args:
        name: the backend's name.
        title: its name for people.
        problem: why it is not configured ("" when it is).
        state: its send bookkeeping.
    """
    found: list[Problem] = []
    if problem:
        found.append(Problem(f"config:{name}", _("{title} not configured").format(title=title),
                             problem, notify=False))
    if state.blocked:
        warning = f"{title} stopped: {state.blocked}"
        if problem:  # not configured any more: the old stop is only a warning
            found.append(Problem(warning_key(warning), _("Warning"), warning, warning=warning))
        else:
            found.append(Problem(f"blocked:{name}",
                                 _("{title} refused our credentials").format(title=title),
                                 state.blocked, warning=warning))
    if state.last_rejection:
        warning = (f"{title} refused events for good ({state.rejected_total} so far): "
                   f"{state.last_rejection}")
        found.append(Problem(warning_key(warning), _("Warning"), warning, warning=warning))
    if state.signature_warning:
        found.append(Problem(f"signature:{name}",
                             _("{title}: signature check failed").format(title=title),
                             state.signature_warning,
                             warning=f"SECURITY: {title}: {state.signature_warning}"))
    return tuple(found)


def notice_problem(notice: str) -> Problem:
    """A notice of the state database (e.g. a damaged file was moved aside)."""
    return Problem(warning_key(notice), _("Warning"), notice, warning=notice)


def license_problems(status: LicenseStatus) -> tuple[Problem, ...]:
    """The license needs the user: the server refused the key."""
    if status.state == LicenseState.INVALID:
        return (Problem("license", _("License invalid"),
                        status.message or _("the server refused the key")),)
    return ()


@dataclass(frozen=True)
class LicenseSummary:
    """The license lines of ``status``.

    Attributes:
        status: the last answer about the license (no network); ``NO_KEY`` when none is stored.
        described: ``status`` in one line for people.
        keyring: the keyring backend in use, "unavailable", or None when it was not read.
        key: ``set (9cc2…1541)``, ``not set (...)`` or ``unknown: <why>``; None when the
            keyring was not read.
    """

    status: LicenseStatus
    described: str
    keyring: str | None = None
    key: str | None = None

    def to_json(self) -> dict[str, str]:
        """``license_keyring``, ``license_key`` (when read) and ``license_status``."""
        data: dict[str, str] = {}
        if self.keyring is not None:
            data["license_keyring"] = self.keyring
        if self.key is not None:
            data["license_key"] = self.key
        data["license_status"] = self.described
        return data


@dataclass(frozen=True)
class CategoryStatus:
    """One consent category: the effective choice, the stored one, and why they differ.

    ``decided_by`` names the rule that decided (``policy`` › ``do_not_track`` › ``user``, or
    ``undecided``); ``locked``: the administrator's policy does not let the user grant it.
    """

    id: str
    choice: str
    stored: str
    reason: str = ""
    decided_by: str = "user"
    locked: bool = False

    def to_json(self) -> dict[str, Any]:
        """The category's object in ``status --json``."""
        return {"choice": self.choice, "stored": self.stored, "reason": self.reason,
                "decided_by": self.decided_by, "locked": self.locked}


@dataclass(frozen=True)
class CompanionStatus:
    """Everything ``status`` shows; ``to_json`` is ``status --json``.

    Attributes:
        product: the product's name.
        config: the vendor configuration file in use.
        state_dir: the state directory.
        consent_version: the vendor's consent version.
        do_not_track: ``DO_NOT_TRACK`` is set.
        consent: every category, in the vendor configuration's order.
        sending: "allowed", or why nothing is sent.
        consent_needed: the user never decided for this consent version (not in the JSON).
        backends: the enabled backends, then the disabled ones.
        license: the license lines (None: no license service in this wiring).
        problems: what needs the user's attention, each built once (not in the JSON; its
            ``warning`` lines are).
        warnings: the lines ``status`` prints as WARNING, in order.
        policy: the administrator's policy in force (``AdminPolicy.to_dict``).
        paused: the user paused the tray's sending (stored by the tray, so every process
            knows).
        waiting_consent: queued events held for a category the user has not decided yet.
        identifier_reset_at: when the user last reset their identifier (None: never).
    """

    product: str
    config: str
    state_dir: str
    consent_version: int
    do_not_track: bool
    consent: tuple[CategoryStatus, ...]
    sending: str
    backends: tuple[BackendStatus, ...]
    license: LicenseSummary | None = None
    consent_needed: bool = False
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    policy: Mapping[str, Any] = field(default_factory=dict)
    paused: bool = False
    waiting_consent: int = 0
    identifier_reset_at: float | None = None

    @property
    def queued(self) -> int:
        """Events waiting, all backends."""
        return sum(b.queued for b in self.backends)

    @property
    def last_success(self) -> float | None:
        """When any backend last delivered a request (None: never)."""
        times = [b.state.last_success for b in self.backends if b.state.last_success]
        return max(times) if times else None

    def backend(self, name: str) -> BackendStatus:
        """One backend by name (``KeyError`` when unknown)."""
        for b in self.backends:
            if b.name == name:
                return b
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """``status --json``: exactly these keys, in this order.

        ``product``, ``config``, ``state_dir``, ``consent_version``, ``do_not_track``,
        ``consent`` ({category: {``choice``, ``stored``, ``reason``, ``decided_by``,
        ``locked``}}), ``policy`` (the administrator's: ``source``, ``enabled``, ``deny``,
        ``locked``, ``error``), ``sending``,
        ``backends`` ({name: {``enabled``, ``configured``, ``problem``, and for an enabled
        backend ``url``, ``queued``, ``dropped`` (queued events removed unsent),
        ``dropped_by_reason`` ({reason: events}), ``unreadable`` (events kept aside unsent
        because they no longer read back), ``blocked``, ``next_attempt_in``,
        ``waiting_because``, ``failures``, ``last_success``, ``last_failure``, ``last_error``,
        ``signature_warning``, ``last_rejection``, ``rejected_total``, ``failing_since``}}),
        ``warnings`` (list of
        text), then ``license_keyring``, ``license_key`` and ``license_status`` (text) when the
        companion has a license service; then ``paused``, ``waiting_consent`` and
        ``identifier_reset_at`` (UTC, ``2026-12-08T00:10:00Z``; null when never reset).
        ``app.core.overall.status_json`` adds ``state``, the one account the tray and
        ``doctor`` show too (``status --json`` prints that).
        """
        data: dict[str, Any] = {
            "product": self.product,
            "config": self.config,
            "state_dir": self.state_dir,
            "consent_version": self.consent_version,
            "do_not_track": self.do_not_track,
            "consent": {c.id: c.to_json() for c in self.consent},
            "policy": dict(self.policy),
            "sending": self.sending,
            "backends": {b.name: b.to_json() for b in self.backends},
            "warnings": list(self.warnings),
        }
        if self.license is not None:
            data.update(self.license.to_json())
        data["paused"] = self.paused
        data["waiting_consent"] = self.waiting_consent
        data["identifier_reset_at"] = (
            None if self.identifier_reset_at is None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.identifier_reset_at)))
        return data


def collect_problems(notices: tuple[str, ...], backends: tuple[BackendStatus, ...],
                     license: LicenseSummary | None) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """The problems (backends first, as the tray lists them) and the warning lines (database
    notices first, as ``status`` prints them), from the same ``Problem`` objects."""
    notice_problems = tuple(notice_problem(n) for n in notices)
    backend_found = tuple(p for b in backends for p in b.problems)
    license_found = license_problems(license.status) if license is not None else ()
    problems = backend_found + notice_problems + license_found
    warnings = tuple(p.warning for p in notice_problems + backend_found if p.warning)
    return problems, warnings
