"""Whether the running tray waits for a panel to show its icon in: ``status`` and ``doctor``
say so, from another process too.

The tray records it in the state database when it starts without a system tray and removes
the record once its icon is shown (``app.tray.panel_watch``). The record names the tray's
process; a record whose process is gone (a tray that was killed) says nothing.
"""

from __future__ import annotations

import os
import sys

from app.storage.state import StateStore

KEY = "tray:no-panel"
NO_PANEL = ("the tray runs without an icon: no panel with a system tray on this desktop yet; "
            "the icon appears as soon as one starts (sending continues)")


def note(state: StateStore, waiting: bool, now: float, pid: int | None = None) -> None:
    """Record that this tray waits for a panel (``waiting``), or that it no longer does."""
    if waiting:
        state.set(KEY, {"pid": os.getpid() if pid is None else pid, "since": now})
    elif state.get(KEY) is not None:
        state.delete(KEY)


def waiting_for_panel(state: StateStore) -> bool:
    """A running tray has no panel to show its icon in."""
    data = state.get(KEY)
    if not isinstance(data, dict):
        return False
    pid = data.get("pid")
    return isinstance(pid, int) and _alive(pid)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # no cheap check there; the tray removes the record when its icon shows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
