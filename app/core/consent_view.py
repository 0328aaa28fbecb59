"""Plain data for the consent and history views: the CLI prints it, the windows show it.

Nothing here builds a request: previews come from ``Companion.preview`` (the backends' own
``prepare``); this module only describes them, so the CLI's ``--json`` and the windows agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from app.core import preview as preview_fmt
from app.core.consent import STATE_KEY, ConsentPolicy
from app.core.preview import FIELD_MEANINGS
from app.model.wire import PreparedRequest
from app.storage.history import HistoryEntry
from app.storage.outbox import UNDECIDED_KEEP

if TYPE_CHECKING:  # only for type hints: the companion imports the storage this module reads
    from app.core.companion import Companion
    from app.core.companion_types import BackendPreview
    from app.model.consent import AdminPolicy

# Fields whose meaning depends on the event, explained in the same plain words.
EXTRA_MEANINGS = {
    "numeric_data_single_value": "the number the event carries (e.g. how long something took)",
    "numeric_data_x": "the first of the two numbers the event carries",
    "numeric_data_y": "the second of the two numbers the event carries",
    "text_data": "the short text the event carries",
    "floatValue": "the number the event carries",
}

OUTCOME_WORDS = {
    "delivered": "delivered",
    "flagged": "flagged by the server",
    "rejected": "rejected",
    "retry": "will retry",
    "blocked": "stopped (configuration problem)",
    "split": "too large, split",
    "unconfirmed": "may have arrived (sent 3 times without an answer), not sent again",
}
SIGNATURE_WORDS = {
    "valid": "valid",
    "invalid": "INVALID (not trusted)",
    "unsigned": "not signed by the server",
    "not-checked": "not checked (no public key configured)",
    "n/a": "",
}


# Which rule decided a category, in words (policy › DO_NOT_TRACK › the user).
RULE_WORDS = {
    "policy": "the administrator's policy",
    "do_not_track": "DO_NOT_TRACK",
    "user": "your choice",
    "undecided": "nobody yet",
}


def rule_words(decided_by: str) -> str:
    """Which rule decided, in words (``policy`` -> "the administrator's policy")."""
    return RULE_WORDS.get(decided_by, decided_by)


def held_reason(policy: ConsentPolicy, category_id: str) -> str:
    """Why a category's events are not sent, naming the rule that decided."""
    now = policy.effective_decision(category_id)
    if now.reason:
        return now.reason
    from app.support.i18n import _

    return _("not decided yet") if now.decided_by.value == "undecided" else _("not agreed to")


def decided_lines(policy: ConsentPolicy) -> list[str]:
    """One line per category: its effective choice and which rule decided it (in the language
    ``app.support.i18n.setup`` chose; English until then)."""
    from app.support.i18n import _

    choices = {"granted": _("granted"), "denied": _("denied"), "undecided": _("undecided")}
    lines = []
    for s in policy.states():
        line = _("{category}: {choice}, decided by {rule}").format(
            category=s.category.id, choice=choices.get(s.effective.value, s.effective.value),
            rule=_(rule_words(s.decided_by.value)))
        if s.reason:
            line += f" ({s.reason})"
        elif s.locked:
            line += " " + _("(locked by your administrator)")
        lines.append(line)
    return lines


def policy_words(admin: AdminPolicy) -> str:
    """``AdminPolicy.describe`` in the user's language (file names and errors as they are)."""
    from app.support.i18n import _

    if not admin.present:
        return _("no administrator policy")
    if admin.error:
        return _("the administrator's policy is invalid, so telemetry is off: {error}").format(
            error=admin.error)
    parts = []
    if not admin.enabled:
        parts.append(_("telemetry is off"))
    if admin.deny:
        parts.append(_("denied: {categories}").format(categories=", ".join(sorted(admin.deny))))
    if admin.locked:
        parts.append(_("choices are locked"))
    return _("administrator policy {path}: {rules}").format(
        path=admin.source, rules="; ".join(parts) or _("no restriction"))


def meaning(name: str) -> str | None:
    """What a field means, in plain words (None when we have nothing to say)."""
    return FIELD_MEANINGS.get(name) or EXTRA_MEANINGS.get(name)


def request_fields(request: PreparedRequest) -> list[str]:
    """The field names in a request body, in order of first appearance."""
    ctype = (request.header("content-type") or "").lower()
    text = preview_fmt.body_text(request)
    names: dict[str, None] = {}
    if "x-www-form-urlencoded" in ctype:
        for key, _value in parse_qsl(text, keep_blank_values=True):
            names[key] = None
    elif "json" in ctype:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
        for item in items:
            if isinstance(item, dict):
                for key in item:
                    names[key] = None
    return list(names)


def field_meanings(requests: Iterable[PreparedRequest]) -> list[tuple[str, str]]:
    """``(field, meaning)`` for every explained field that appears in these requests."""
    seen: dict[str, str] = {}
    for request in requests:
        for name in request_fields(request):
            text = meaning(name)
            if text and name not in seen:
                seen[name] = text
    return list(seen.items())


def preview_data(previews: Sequence[BackendPreview],
                 summaries: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """``preview --json``: per backend, what will and will not be sent, and what fields mean;
    ``summary`` is the plain summary (``app.core.summary``) when given."""
    return [
        {
            "backend": p.backend,
            "title": p.title,
            "summary": (summaries or {}).get(p.backend, ""),
            "will_send": p.will_send,
            "problem": p.problem,
            "queued": p.queued,
            "held_back": p.held_back,
            "requests": [preview_fmt.describe(r) for r in p.requests],
            "held_requests": [preview_fmt.describe(r) for r in p.held_requests],
            "field_meanings": dict(field_meanings([*p.requests, *p.held_requests])),
        }
        for p in previews
    ]


def version_changed(companion: Companion) -> bool:
    """Whether the user decided for an older consent version and must be asked again."""
    stored = companion.consent.state.get(STATE_KEY, {}).get("decisions", {})
    current = companion.config.consent.version
    return bool(stored) and all(entry.get("version") != current for entry in stored.values())


def consent_data(companion: Companion) -> dict[str, Any]:
    """``consent show --json``: decisions, what is waiting and what was thrown away, per category.

    Each category says which rule decided (``decided_by``: ``policy`` › ``do_not_track`` ›
    ``user``, or ``undecided``) and whether the administrator locked it; ``policy`` is the
    administrator's policy in force, ``blocked`` why nothing at all is sent ("" otherwise).
    """
    policy = companion.consent
    waiting = companion.outbox.counts_by_category()
    counters = companion.outbox.category_counters()
    categories = []
    for s in policy.states():
        counts = counters.get(s.category.id, {})
        categories.append({
            "id": s.category.id,
            "title": s.category.title,
            "description": s.category.description,
            "events": list(s.category.events),
            "choice": s.effective.value,
            "stored": s.decision.choice.value,
            "version": s.decision.version,
            "decided_at": s.decision.decided_at,
            "reason": s.reason,
            "decided_by": s.decided_by.value,
            "locked": s.locked,
            "waiting": waiting.get(s.category.id, 0),
            "discarded_declined": counts.get("declined", 0),
            "dropped_undecided": counts.get("dropped_undecided", 0),
        })
    return {
        "version": companion.config.consent.version,
        "do_not_track": policy.do_not_track,
        "ever_decided": policy.ever_decided(),
        "version_changed": version_changed(companion),
        "undecided_keep": UNDECIDED_KEEP,
        "categories": categories,
        "policy": policy.admin.to_dict(),
        "blocked": policy.blocked_reason(),
    }


def outcome_words(entry: HistoryEntry) -> str:
    """The outcome in words: "flagged by the server (831)" rather than "flagged"."""
    words = OUTCOME_WORDS.get(entry.verdict, entry.verdict)
    if entry.verdict == "flagged" and entry.code is not None:
        words += f" ({entry.code})"
    return words


def signature_words(entry: HistoryEntry) -> str:
    """The signature check in words ("" when the backend does not sign)."""
    return SIGNATURE_WORDS.get(entry.signature, entry.signature)


def event_names_text(names: Iterable[str], most: int = 5) -> str:
    """A request's event names in a line: each name once, in order, with ``×n`` when it came
    more than once, at most ``most`` of them and then ``… +k`` (the history's row text)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    shown = [name if n == 1 else f"{name} ×{n}" for name, n in list(counts.items())[:most]]
    if len(counts) > most:
        shown.append(f"… +{len(counts) - most}")
    return ", ".join(shown)


def history_data(entries: Iterable[HistoryEntry]) -> list[dict[str, Any]]:
    """``history --json`` and the History window's export: the same list, newest first."""
    result = []
    for entry in entries:
        data = entry.to_dict()
        data["outcome"] = outcome_words(entry)
        result.append(data)
    return result


def history_json(entries: Iterable[HistoryEntry]) -> str:
    """``history_data`` as the exact text ``history --json`` prints."""
    return json.dumps(history_data(entries), indent=2, ensure_ascii=False, default=str)
