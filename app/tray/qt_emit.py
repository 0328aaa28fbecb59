"""``emit(signal, *args)``: every Python-side signal emit of the app goes through here.

Why a module of its own: the tray runs for days and emits many thousands of signals, and one
PySide6 release (6.12.0 on CPython < 3.12) corrupts the interpreter a little on each emit. The
workaround belongs to neither the windows nor the worker thread, and both use it.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal, SignalInstance


class _Probe(QObject):
    signal = Signal()


_emit_drops_true: bool | None = None


def emit(signal: SignalInstance, *args: object) -> None:
    """``signal.emit(*args)``, working around a reference-count bug in PySide6 6.12.0.

    On CPython < 3.12 every Python-side ``SignalInstance.emit`` of PySide6 6.12.0 returns
    ``True`` without taking a reference, so each call lowers ``True``'s refcount by one; after a
    few thousand emits the interpreter aborts with "Fatal Python error: bool_dealloc". We
    measure once whether this build has the bug and, if so, give the reference back. Use this
    helper for every emit in long-running code (the tray runs for days).

    pyproject.toml pins 6.11.3, which does not have the bug, so on our own builds this is a
    guard that costs one measurement; it matters where a vendor or distribution swaps in 6.12.0.
    """
    global _emit_drops_true
    if _emit_drops_true is None:
        probe = _Probe()
        before = sys.getrefcount(True)
        for _ in range(8):
            probe.signal.emit()
        _emit_drops_true = sys.getrefcount(True) < before
        if _emit_drops_true:
            import ctypes  # only on the affected build: an idle tray need not load it

            for _ in range(8):
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    # The stubs say emit returns None; the affected build returns True, which is the point.
    if signal.emit(*args) is True and _emit_drops_true:  # type: ignore[func-returns-value]
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
