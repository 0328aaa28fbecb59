"""Whether a license key is stored, known without a keyring read at every ``track``.

What ``[keymanager] without_key = "skip"`` asks for each event: while no key is stored,
events are not kept for KeyManager (docs/deploying.md, "KeyManager without a license key").
The answer comes from what the state database already remembers: the license check or a send
that found no key (``license:no-key``, KeyManager's ``waiting_key_at``), or a key seen stored
(``license:key-seen``, written here and when a key is stored). Only when it remembers neither is
the keyring read, once, and the answer remembered. A keyring that cannot be read counts as "a
key may be stored": the events are kept (and wait), never thrown away on a doubt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.model.errors import CompanionError

if TYPE_CHECKING:
    from app.core.license import LicenseService
    from app.storage.state import StateStore


def key_missing(state: StateStore, license: LicenseService | None, now: float) -> bool:
    """True when no license key is stored, as far as is known for sure."""
    from app.core.license import KEY_SEEN, KEYMANAGER_STATE, NO_KEY_SEEN

    if state.get(NO_KEY_SEEN) or (state.get(KEYMANAGER_STATE) or {}).get("waiting_key_at"):
        return True
    if state.get(KEY_SEEN):
        return False
    if license is None:
        return True  # no key source at all: the key would be sent empty
    try:
        stored = bool(license.key().strip())
    except CompanionError:
        return False
    state.set(KEY_SEEN if stored else NO_KEY_SEEN, {"at": now})
    return not stored
