"""The consent policy: what the user agreed to, per category, and what that means for events.

Nothing is sent for a category unless the user granted it for the vendor's current consent
version. Precedence: the administrator's policy › ``DO_NOT_TRACK=1`` › the user's choice; each
effective decision says which of them decided (``DecidedBy``). Undecided events are kept locally
(so the user can see real examples before deciding); denied ones are never stored.

The product's rule: an administrator can only reduce what leaves the machine, never grant
consent for the user. So a policy can deny and lock, but withdrawing consent always works.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.model.consent import (
    NO_POLICY,
    AdminPolicy,
    Category,
    Choice,
    DecidedBy,
    Decision,
    category_for,
)
from app.model.errors import CompanionError, ValidationError
from app.storage.config import ConsentConfig
from app.storage.state import StateStore

STATE_KEY = "consent"
TRUTHY = {"1", "true", "yes", "on"}


def do_not_track(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user asked every program not to track them (``DO_NOT_TRACK=1``)."""
    value = (os.environ if environ is None else environ).get("DO_NOT_TRACK", "")
    return value.strip().lower() in TRUTHY


class PolicyLockedError(CompanionError):
    """The user tried to grant what the administrator's policy does not allow."""

    exit_code = 2


@dataclass(frozen=True)
class Effective:
    """The decision that applies now, and which rule made it.

    Attributes:
        choice: granted, denied or undecided.
        decided_by: the rule that decided (policy › DO_NOT_TRACK › the user).
        reason: in words, when a rule overrides the user's choice ("" otherwise).
        locked: the user cannot grant this now ("Set by your administrator").
    """

    choice: Choice
    decided_by: DecidedBy
    reason: str = ""
    locked: bool = False


@dataclass(frozen=True)
class CategoryState:
    """A category with the user's effective decision, for display."""

    category: Category
    decision: Decision
    effective: Choice
    reason: str  # why effective differs from the stored choice, if it does
    decided_by: DecidedBy = DecidedBy.USER
    locked: bool = False  # set by the administrator: the window shows the switch disabled


class ConsentPolicy:
    """Reads and changes the user's decisions.

    Args:
        config: the vendor's categories and consent version.
        state: where decisions are stored (the state database, never the keyring or config).
        environ: the environment to read ``DO_NOT_TRACK`` from.
        clock: seconds since the epoch.
        admin: the administrator's policy in force (``NO_POLICY`` when there is none).
    """

    def __init__(
        self,
        config: ConsentConfig,
        state: StateStore,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        admin: AdminPolicy = NO_POLICY,
    ) -> None:
        self.config = config
        self.state = state
        self.environ = os.environ if environ is None else environ
        self.clock = clock
        self.admin = admin

    @property
    def categories(self) -> tuple[Category, ...]:
        """The categories the vendor declared, in order."""
        return self.config.categories

    @property
    def do_not_track(self) -> bool:
        """Whether DO_NOT_TRACK overrides every decision right now."""
        return do_not_track(self.environ)

    def category_of(self, event_name: str) -> Category:
        """The category an event belongs to; an undeclared event is refused."""
        category = category_for(self.categories, event_name)
        if category is None:
            patterns = ", ".join(p for c in self.categories for p in c.events)
            raise ValidationError(
                "name", f"{event_name!r} matches no consent category the vendor declared "
                f"({patterns}); declare it in [[consent.category]] first"
            )
        return category

    def decision(self, category_id: str, stored: Mapping[str, Any] | None = None) -> Decision:
        """The stored decision for the current consent version (undecided if none or stale).

        Args:
            category_id: the category.
            stored: the stored decisions as ``_stored`` read them (a caller asking about every
                category reads them once); read now by default.
        """
        if stored is None:
            stored = self._stored()
        entry = stored.get("decisions", {}).get(category_id)
        if not entry or entry.get("version") != self.config.version:
            return Decision(category_id, Choice.UNDECIDED, self.config.version, None)
        return Decision(category_id, Choice(entry["choice"]), entry["version"], entry.get("at"))

    def _stored(self) -> Mapping[str, Any]:
        """Every stored decision, read from the state database (one query)."""
        stored = self.state.get(STATE_KEY, {})
        return stored if isinstance(stored, Mapping) else {}

    @property
    def telemetry_off(self) -> bool:
        """Whether the administrator's policy turns telemetry off entirely (or is invalid)."""
        return not self.admin.enabled

    def blocked_reason(self) -> str:
        """Why nothing at all may be sent, in words ("" when the rules allow some categories).

        ``track`` says this when it discards an event; ``status`` and ``preview`` show it.
        """
        if self.telemetry_off:
            if self.admin.error:
                return f"telemetry is off: {self.admin.error}"
            return f"telemetry is off by policy (set by your administrator in {self.admin.source})"
        if self.do_not_track:
            return "DO_NOT_TRACK is set: nothing is sent"
        return ""

    def effective_decision(self, category_id: str,
                           stored: Mapping[str, Any] | None = None) -> Effective:
        """The decision that applies now and which rule made it (policy › DO_NOT_TRACK › user).

        ``stored``: as for ``decision``.
        """
        if self.telemetry_off:
            return Effective(Choice.DENIED, DecidedBy.POLICY, self.blocked_reason(), True)
        if category_id in self.admin.deny:
            return Effective(Choice.DENIED, DecidedBy.POLICY,
                             f"denied by policy (set by your administrator in {self.admin.source})",
                             True)
        locked = self.admin.locked
        if self.do_not_track:
            return Effective(Choice.DENIED, DecidedBy.DO_NOT_TRACK, "DO_NOT_TRACK is set", locked)
        choice = self.decision(category_id, stored).choice
        by = DecidedBy.UNDECIDED if choice is Choice.UNDECIDED else DecidedBy.USER
        return Effective(choice, by, "", locked)

    def effective(self, category_id: str) -> Choice:
        """The decision that applies now (policy, then DO_NOT_TRACK, then the user)."""
        return self.effective_decision(category_id).choice

    def states(self) -> list[CategoryState]:
        """Every category with its decision, the effective choice and which rule made it."""
        result = []
        stored = self._stored()
        for category in self.categories:
            decision = self.decision(category.id, stored)
            now = self.effective_decision(category.id, stored)
            result.append(CategoryState(category, decision, now.choice, now.reason,
                                        now.decided_by, now.locked))
        return result

    def allowed(self, category_ids: Iterable[str]) -> list[str]:
        """The ids among these that the policy and DO_NOT_TRACK let be sent if granted.

        For previews of choices not saved yet (the consent window's switches): a switch the
        administrator locked off must not show its events as "will be sent".
        """
        if self.telemetry_off or self.do_not_track:
            return []
        return [cat for cat in category_ids if cat not in self.admin.deny]

    def policy_denied(self) -> list[str] | None:
        """The categories whose queued events must go: None means every event (telemetry off).

        Pass it to ``Outbox.discard`` (see ``enforce_policy``).
        """
        if self.telemetry_off:
            return None
        return sorted(self.admin.deny)

    def granted(self) -> list[str]:
        """Ids of the categories whose events may be sent now."""
        if self.telemetry_off or self.do_not_track:
            return []  # no need to read the decisions (the tray asks after every write)
        stored = self._stored()
        return [c.id for c in self.categories
                if self.effective_decision(c.id, stored).choice is Choice.GRANTED]

    def ever_decided(self) -> bool:
        """Whether the user answered for the current version (else the window should ask)."""
        stored = self._stored()
        return any(self.decision(c.id, stored).choice is not Choice.UNDECIDED
                   for c in self.categories)

    def _resolve(self, category_ids: Iterable[str] | None) -> list[str]:
        known = [c.id for c in self.categories]
        if category_ids is None:
            return known
        ids = list(category_ids)
        if not ids:
            return known
        for cat in ids:
            if cat not in known:
                raise ValidationError("category", f"unknown category {cat!r}; known: "
                                      f"{', '.join(known)}")
        return ids

    def _check_grant(self, category_ids: Iterable[str] | None) -> list[str]:
        """The ids a grant may store; raises when the administrator's policy forbids it.

        Granting "all" (None/empty) grants what the policy allows and skips what it denies;
        naming a denied category is an error, so the user is never told it was granted.
        """
        where = f"set by your administrator in {self.admin.source}"
        if self.telemetry_off:
            raise PolicyLockedError(f"cannot grant: {self.blocked_reason()}")
        if self.admin.locked:
            raise PolicyLockedError(f"cannot grant: consent choices are locked ({where})")
        ids = self._resolve(category_ids)
        denied = [cat for cat in ids if cat in self.admin.deny]
        if denied and category_ids:
            raise PolicyLockedError(f"cannot grant {', '.join(denied)}: denied by policy ({where})")
        ids = [cat for cat in ids if cat not in self.admin.deny]
        if not ids:
            raise PolicyLockedError(f"cannot grant: every category is denied by policy ({where})")
        return ids

    def set(self, choice: Choice, category_ids: Iterable[str] | None = None) -> list[str]:
        """Store a decision for some (or, with None/empty, all) categories; returns their ids.

        A denial is always stored, also for a category the policy denies or locks: the user's
        "no" must still hold after the administrator lifts the policy.

        Raises:
            ValidationError: an unknown category.
            PolicyLockedError: a grant the administrator's policy does not allow.
        """
        if category_ids is not None:
            category_ids = list(category_ids)
        if choice is Choice.GRANTED:
            ids = self._check_grant(category_ids)
        else:
            ids = self._resolve(category_ids)
        stored = self.state.get(STATE_KEY, {})
        decisions = {
            key: value
            for key, value in stored.get("decisions", {}).items()
            if value.get("version") == self.config.version
        }
        now = self.clock()
        for cat in ids:
            decisions[cat] = {"choice": choice.value, "version": self.config.version, "at": now}
        self.state.set(STATE_KEY, {"decisions": decisions})
        return ids


class _Discards(Protocol):
    def discard(self, categories: Iterable[str] | None = None, backend: str | None = None) -> int:
        ...


def enforce_policy(policy: ConsentPolicy, outbox: _Discards) -> int:
    """Delete the queued events the administrator's policy no longer lets leave the machine.

    Call it when the companion opens and before each send round; returns how many were deleted.
    """
    if policy.admin.error:
        # A policy that cannot be read stops sending (the safe reading) but deletes nothing:
        # a typo or a passing read error must not destroy what the user agreed to send.
        return 0
    denied = policy.policy_denied()
    if denied is not None and not denied:
        return 0
    return outbox.discard(denied)


def system_policy() -> AdminPolicy:
    """The administrator's policy on this machine, read from this OS's fixed place."""
    from app.storage.policy import load_admin_policy
    from app.support.autostart import BUNDLE_ID

    return load_admin_policy(BUNDLE_ID)
