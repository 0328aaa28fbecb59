"""Workarounds for bugs in the pinned Qt binding (PySide6-Essentials 6.12.0).

``SignalInstance.emit()`` in 6.12.0 returns ``True`` without taking a reference to it, so every
``emit`` called from Python drops one reference to ``True`` that was never taken. A long-running
tray emits often enough that ``True``'s count reaches zero and CPython aborts with
"Fatal Python error: bool_dealloc: deallocating True or False" (seen at interpreter exit after
a few thousand emits in the UI test run). ``emit`` below gives the reference back, but only when
a probe shows the binding still has the bug, so an upgraded binding is left alone.
"""

from __future__ import annotations

import ctypes
import sys
import threading

from PySide6.QtCore import QObject, Signal, SignalInstance

PROBE_EMITS = 16

_lock = threading.Lock()
_leaks: bool | None = None


class _Probe(QObject):
    ping = Signal()


def _give_back(count: int) -> None:
    for _ in range(count):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))


def emit_leaks_true() -> bool:
    """Whether this binding's ``emit`` drops a reference to ``True`` (probed once, lazily)."""
    global _leaks
    with _lock:
        if _leaks is None:
            probe = _Probe()
            before = sys.getrefcount(True)
            for _ in range(PROBE_EMITS):
                probe.ping.emit()
            # Other threads may take or drop references meanwhile; the bug loses one per emit.
            _leaks = before - sys.getrefcount(True) >= PROBE_EMITS // 2
            if _leaks:
                _give_back(PROBE_EMITS)
        return _leaks


def emit(signal: SignalInstance, *args: object) -> None:
    """``signal.emit(*args)``, minus the binding's reference-count bug."""
    signal.emit(*args)
    if emit_leaks_true():
        _give_back(1)
