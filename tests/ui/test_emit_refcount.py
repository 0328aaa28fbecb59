"""The emit workaround keeps ``True``'s reference count steady (PySide6 6.12.0 drops one per emit)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from app.qt_emit import emit


class Source(QObject):
    changed = Signal(list, bool)


def test_emit_does_not_drain_true(qtbot):
    source = Source()
    got = []
    source.changed.connect(lambda items, flag: got.append((items, flag)))
    emit(source.changed, [], True)  # the first emit probes the binding; measure after it
    before = sys.getrefcount(True)
    for _ in range(500):
        emit(source.changed, ["usage"], False)
    assert abs(sys.getrefcount(True) - before) < 50
    assert len(got) == 501 and got[1] == (["usage"], False)
