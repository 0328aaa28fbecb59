"""Which queued events go next: the one choice the sender acts on and the preview shows.

The sender sends one batch per round; the preview shows the batches of the next rounds. Both
ask ``next_batches``, so they cannot disagree about which events go together, in what order,
or how many fit in one request, including after a 413 made the server's limit smaller than
the backend's own ``max_batch``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.backends.base import Backend
from app.model.wire import PreparedRequest, SendContext
from app.storage.outbox import Outbox, QueuedEvent

Batch = list[QueuedEvent]


@dataclass(frozen=True)
class Work:
    """One request of a round, its outbox rows, and the masked copy its history entry keeps."""

    request: PreparedRequest
    items: list[QueuedEvent]
    history_text: str


@dataclass(frozen=True)
class Round:
    """One batch's requests; ``last_seq`` is the last outbox row read (the next round is past it)."""

    work: list[Work]
    last_seq: int


def batch_size(backend: Backend, limit: int | None) -> int:
    """Events per round: the backend's ``max_batch``, or fewer while a 413's limit holds.

    Args:
        backend: whose batches.
        limit: the reduced size a 413 left in the backend's send state (None: none).
    """
    return max(1, min(backend.max_batch, limit or backend.max_batch))


def next_batches(
    outbox: Outbox,
    backend: Backend,
    size: int,
    categories: Iterable[str] | None = None,
    *,
    exclude: Iterable[str] | None = None,
    rounds: int = 1,
    quarantine: bool = False,
    after: int = 0,
) -> list[Batch]:
    """The events of the next ``rounds`` rounds, oldest first, ``size`` per round.

    Args:
        outbox: where the events wait.
        backend: whose queue.
        size: events per round (``batch_size``).
        categories: only these consent categories (None: any; empty: none).
        exclude: none of these categories (the preview's "will not be sent").
        rounds: how many rounds ahead (the sender takes one).
        quarantine: rows that do not read back are moved aside (the sender's write path);
            otherwise they are only left out.
        after: only rows past this outbox ``seq`` (the sender's next round, read while the
            rows before it are still in flight).
    """
    queued = outbox.peek(backend.name, size * max(1, rounds), categories, exclude,
                         quarantine=quarantine, after=after)
    return [queued[start:start + size] for start in range(0, len(queued), size)]


def requests_for(
    backend: Backend, batches: Iterable[Batch], ctx: SendContext, limit: int | None = None
) -> list[PreparedRequest]:
    """The exact requests that carry ``batches``, round after round (at most ``limit``)."""
    requests: list[PreparedRequest] = []
    for batch in batches:
        if limit is not None and len(requests) >= limit:
            break
        requests += backend.prepare([item.event for item in batch], ctx)
    return requests if limit is None else requests[:limit]
