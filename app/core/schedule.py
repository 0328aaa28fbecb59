"""When the tray's sender should next try: the one decision behind its event-driven timer.

Without Qt, so it is tested on a real companion: the worker (``app.tray.worker``) arms its single-shot
timer for what this returns, or none at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.companion import Companion


def next_wait(companion: Companion) -> float | None:
    """Seconds until a send round is worth starting (0: now); None: nothing to send or due.

    None when sending is not allowed at all (no consent, DO_NOT_TRACK: a grant wakes the
    worker), when no backend has events the user agreed to, and when every such backend is
    blocked until the user or a new config acts. Otherwise the earliest of the backends' waits
    (backoff, a server's Retry-After). Reads only (the counters and each backend's send state),
    so calling it after our own writes cannot start a loop.
    """
    if companion.why_not_sending():
        return None
    counts = companion.outbox.counts()
    if not counts:
        return None
    allowed = companion.consent.granted()
    waits: list[float] = []
    for name in companion.backend_names:
        if not counts.get(name) or companion.backend_problem(name):
            continue
        held = companion.outbox.counts_by_category(backend=name, exclude=allowed)
        if counts[name] <= sum(held.values()):
            continue  # only events the user has not agreed to
        wait, _why = companion.senders[name].wait_time()
        if wait != float("inf"):  # blocked: waits for the user or a new config
            waits.append(wait)
    return min(waits) if waits else None
