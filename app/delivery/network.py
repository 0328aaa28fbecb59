"""Whether to try sending now, given what the OS says about the network. Pure, no Qt.

The worker asks the OS (Qt's ``QNetworkInformation``, see ``app/tray/netinfo.py``) and feeds the
answer here, so the rules are tested without Qt and without a network:

* The OS says there is no network: do not try, and do not grow the backoff (not trying is not a
  failure; growing it would delay the first try after the network comes back).
* The connection is metered (a phone's hotspot) and the user did not allow "Send on metered
  connections" (off by default): do not send, backoff unchanged.
* Otherwise, including when the OS cannot tell: try as today, and a failure counts as usual.
* The network comes back: try at once (past our own backoff, never past a server's
  Retry-After).

"Local only" or "site" reachability (connected, but the OS's internet check failed) counts as
unknown, not offline: behind a company proxy that check often fails while sending works.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reachability(enum.Enum):
    """What the OS says about the network."""

    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no backend on this platform, or connected without a confirmed internet


@dataclass(frozen=True)
class NetworkState:
    """One reading of the OS's network information.

    Attributes:
        reachability: online, offline or unknown.
        metered: whether the connection costs per byte (None: the OS cannot tell).
        backend: which OS source answered ("" when none exists: behave as without it).
    """

    reachability: Reachability = Reachability.UNKNOWN
    metered: bool | None = None
    backend: str = ""

    def describe(self) -> str:
        """One line for ``doctor`` and the tray."""
        if not self.backend:
            return "not known (no network information on this system); sending is tried as usual"
        metered = {True: "metered", False: "not metered", None: "metered: not known"}[self.metered]
        return f"{self.reachability.value}, {metered} (from {self.backend})"


UNKNOWN_NETWORK = NetworkState()


@dataclass(frozen=True)
class NetworkDecision:
    """Whether to send now, why, and whether a failure of this round may grow the backoff."""

    send: bool
    reason: str
    may_grow_backoff: bool


def decide(
    reachability: Reachability,
    metered: bool | None,
    allow_metered: bool,
    *,
    local_backend: bool = False,
) -> NetworkDecision:
    """The decision for one backend.

    Args:
        reachability: what the OS says.
        metered: whether the connection is metered (None: not known, treated as not metered).
        allow_metered: the user's "Send on metered connections" setting.
        local_backend: the backend is on this machine (the vendor's offline receiver), which
            the network's state cannot affect.
    """
    if local_backend:
        return NetworkDecision(True, "the backend is on this computer", True)
    if reachability is Reachability.OFFLINE:
        return NetworkDecision(False, "the system reports no network connection; waiting for it",
                               False)
    if metered and not allow_metered:
        return NetworkDecision(
            False, "on a metered connection; sending there is off (\"Send on metered "
            "connections\")", False)
    if reachability is Reachability.UNKNOWN:
        return NetworkDecision(True, "the system does not say whether it is online; trying", True)
    if metered:
        return NetworkDecision(True, "online on a metered connection, which you allowed", True)
    return NetworkDecision(True, "online", True)


def try_at_once(before: Reachability, after: Reachability) -> bool:
    """Whether a change means "the network is back": try now instead of waiting the backoff."""
    return before is Reachability.OFFLINE and after is not Reachability.OFFLINE


def decide_for(state: NetworkState, allow_metered: bool, *, local_backend: bool = False) \
        -> NetworkDecision:
    """``decide`` for a ``NetworkState`` reading."""
    return decide(state.reachability, state.metered, allow_metered, local_backend=local_backend)
