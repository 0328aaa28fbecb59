"""Which backends a send round may try, given the OS's network state: the worker's gate.

The rules are ``app.delivery.network.decide_for`` (pure); this only applies them to each of a
companion's backends, with the user's "Send on metered connections" from the state database and
"local" meaning a backend on this computer (the vendor's offline receiver), which the network
state cannot affect. No Qt: the worker feeds in what ``app.tray.netinfo`` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core.companion import Companion
from app.core.settings import send_on_metered
from app.delivery.network import NetworkState, decide_for
from app.storage.config import is_loopback


@dataclass(frozen=True)
class Gate:
    """The answer for one round.

    Attributes:
        backends: the backends to try (their failures count as usual).
        held: backend name -> why it is not tried now (its backoff does not grow).
    """

    backends: tuple[str, ...]
    held: dict[str, str]

    @property
    def reason(self) -> str:
        """Why nothing is tried, when nothing is ("" otherwise)."""
        if self.backends or not self.held:
            return ""
        return next(iter(self.held.values()))


def gate(companion: Companion, state: NetworkState) -> Gate:
    """The backends the network state lets this round try, and why the others wait."""
    allow_metered = send_on_metered(companion.state)
    tried: list[str] = []
    held: dict[str, str] = {}
    for name, sender in companion.senders.items():
        local = is_loopback(urlsplit(sender.backend.url).hostname or "")
        decision = decide_for(state, allow_metered, local_backend=local)
        if decision.send:
            tried.append(name)
        else:
            held[name] = decision.reason
    return Gate(tuple(tried), held)
