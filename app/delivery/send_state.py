"""What one answer changes in a backend's send state, and who may hold the send lease.

Pure rules the sender applies: after a settled answer the failures are forgotten and the
batch size may grow back after a 413's hour; after a failure the backoff grows, a Retry-After
is kept and a bad signature is remembered for ``status``. Kept apart from the sender, which
owns the order of the writes, so each rule reads on its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from app.delivery.backoff import backoff_delay
from app.model.text import printable
from app.model.wire import Outcome, SignatureStatus, Verdict, scrub_secrets

if TYPE_CHECKING:
    from app.storage.state import StateStore

BATCH_LIMIT_HOLD = 3600.0  # seconds a batch size reduced by a 413 is kept before growing again
_VOLATILE = ("last_success", "last_rejection_at", "rejected_total")


def success_changes(info: Mapping[str, Any], outcome: Outcome, count: int, now: float,
                    max_batch: int) -> dict[str, Any] | None:
    """The send state after ``count`` events were settled (delivered, flagged or rejected).

    A rejection (or a KeyManager 831 "saved but flagged") settles events but is no success:
    it is counted and kept as the last rejection. Returns None when nothing but the volatile
    fields would change and ``last_success`` is less than a second old: no write for that.
    """
    changes: dict[str, Any] = {"failures": 0, "next_at": 0, "blocked": None,
                               "failing_since": None}
    if outcome.verdict in (Verdict.REJECTED, Verdict.FLAGGED):
        # KeyManager's 831 stores the event but says it was wrong (a missing or unknown
        # license key among them): settled, never a success.
        changes["last_rejection"] = outcome.message
        changes["last_rejection_at"] = now
        changes["rejected_total"] = int(info.get("rejected_total") or 0) + count
    else:
        changes["last_success"] = now
        changes["last_rejection"] = None
    if outcome.signature in (SignatureStatus.VALID, SignatureStatus.NOT_CHECKED):
        changes["signature_warning"] = None
    if info.get("batch_limit") and now > (info.get("batch_limit_until") or 0):
        doubled = info["batch_limit"] * 2
        changes["batch_limit"] = None if doubled >= max_batch else doubled
        changes["batch_limit_until"] = now + BATCH_LIMIT_HOLD
    changed = any(info.get(k) != v for k, v in changes.items() if k not in _VOLATILE)
    if changed or now - (info.get("last_success") or 0) > 1:
        return changes
    return None


def current_state(info: dict[str, Any], setup: str) -> dict[str, Any]:
    """The stored send state as it holds now for a backend sending with ``setup``.

    A block the server's answer set under another setup (the vendor has since mended the URL,
    app ID or API key it named) no longer holds: the next round tries the new one.
    """
    if info.get("blocked") and info.get("blocked_setup", setup) != setup:
        return {**info, "blocked": None}
    return info


def setup_fingerprint(name: str, section: Any, product: Any) -> str:
    """A short one-way digest of what backend ``name`` sends with (its config section and the
    product): it tells a changed setup and cannot give the API key in it back."""
    import hashlib

    text = repr((name, section._values(), product._values()))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def failure_changes(info: Mapping[str, Any], outcome: Outcome, now: float,
                    rand: Callable[[], float]) -> tuple[dict[str, Any], str]:
    """The send state after a failed request, and why sending stopped (for the report)."""
    failures = int(info.get("failures") or 0) + 1
    changes: dict[str, Any] = {
        "failures": failures,
        "last_failure": now,
        "last_error": printable(outcome.message),
    }
    if failures == 1 or not info.get("failing_since"):
        changes["failing_since"] = now
    if outcome.verdict is Verdict.BLOCKED:
        changes["blocked"] = outcome.message
        stopped = f"stopped: {outcome.message}"
    else:
        changes["next_at"] = now + backoff_delay(failures, rand)
        stopped = f"will retry: {outcome.message}"
    if outcome.retry_after:
        changes["retry_after_until"] = now + min(outcome.retry_after, 24 * 3600)
    if outcome.signature in (SignatureStatus.INVALID, SignatureStatus.UNSIGNED):
        changes["signature_warning"] = outcome.message
    return changes, stopped


def scrubbed(outcome: Outcome, secrets: Iterable[str]) -> Outcome:
    """The outcome as the history keeps it: a key the server echoed in its words is masked."""
    secrets = tuple(secrets)
    errors = outcome.errors
    if errors:
        errors = json.loads(scrub_secrets(json.dumps(errors, default=str), secrets))
    return dataclasses.replace(outcome, message=scrub_secrets(outcome.message, secrets),
                               errors=errors)


def owner_is_dead(owner: str) -> bool:
    """Whether a lease holder ("host:pid:nonce") is a process on this host that no longer runs.

    Only POSIX can ask cheaply and safely (``os.kill(pid, 0)``); elsewhere the lease's time limit
    frees it.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if os.name != "posix" or host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


class SendLease:
    """This process's lease on sending to one backend: the state row ``lease:<backend>``.

    One process sends to a backend at a time. The lease is taken for ``ttl`` seconds and
    renewed, one durable write, only once half of it has run out; a holder that no longer runs
    (``owner_is_dead``) or whose time is up loses it.

    Args:
        state: the state store (its ``claim`` and ``release``).
        backend: the backend's name.
        ttl: seconds the lease lasts unless renewed.
        clock: seconds since the epoch.
    """

    def __init__(self, state: StateStore, backend: str, ttl: float,
                 clock: Callable[[], float]) -> None:
        self.state = state
        self.key = f"lease:{backend}"
        self.ttl = ttl
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.until = 0.0  # when ours runs out (0: not held)

    def hold(self) -> bool:
        """Make sure we hold it for at least half its time; False when another process does."""
        now = self.clock()
        if now < self.until - self.ttl / 2:
            return True  # ours, with time to spare: no write
        if not self.state.claim(self.key, self.owner, now, self.ttl, owner_is_dead):
            self.until = 0.0
            return False
        self.until = now + self.ttl
        return True

    def release(self) -> None:
        """Give it back (a no-op when it is not held)."""
        if self.until:
            self.until = 0.0
            self.state.release(self.key, self.owner)
