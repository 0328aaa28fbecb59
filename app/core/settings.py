"""The user's own settings kept in the state database (not the vendor's configuration).

"Send on metered connections" is the only one: off by default, so a phone's hotspot is never
used for telemetry unless the user says so. Changed from the tray's menu or with
``license-companion consent metered on|off``; read by the worker before each round and by
``doctor``.
"""

from __future__ import annotations

from app.storage.state import StateStore

METERED_KEY = "setting:send_on_metered"


def send_on_metered(state: StateStore) -> bool:
    """Whether the user allowed sending on metered connections (False until they do)."""
    return state.get(METERED_KEY, False) is True


def set_send_on_metered(state: StateStore, allowed: bool) -> bool:
    """Store the user's choice; returns it."""
    state.set(METERED_KEY, bool(allowed))
    return bool(allowed)
