"""What one or more send rounds of one backend did (``Sender.send_round``'s answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # named in annotations only
    from app.model.wire import Outcome


@dataclass
class RoundReport:
    """What one or more rounds of sending did."""

    backend: str
    requests: int = 0
    delivered: int = 0
    flagged: int = 0
    rejected: int = 0
    stopped: str = ""  # why sending stopped before the queue was empty ("" = it did not)
    outcomes: list[Outcome] = field(default_factory=list)
    rounds: int = 0  # batches read and sent (or skipped because revoked meanwhile)

    def merge(self, other: RoundReport) -> None:
        """Add another round's counts to this one."""
        self.rounds += other.rounds
        self.requests += other.requests
        self.delivered += other.delivered
        self.flagged += other.flagged
        self.rejected += other.rejected
        self.stopped = other.stopped
        self.outcomes += other.outcomes
