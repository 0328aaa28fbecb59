"""The GUI thread stays responsive while the worker sends thousands of events to slow servers.

The suite's one timing check (a frozen tray is a bug, not a speed figure): a 5 ms QTimer
heartbeat on the GUI thread while the worker drains 3,000 events to a TelemetryDeck receiver
(30 requests of 100) and 200 to a KeyManager receiver (one request each), both answering slowly;
no gap between heartbeats may reach 250 ms, and only one may pass 100 ms.
"""

from __future__ import annotations

import itertools
import time

import pytest
from PySide6.QtCore import QTimer

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def fill(factory, count: int) -> None:
    companion = factory()
    try:
        companion.grant(None)
        for i in range(count):
            companion.track("perf.load" if i % 2 else "feature.export", kind="number", value=i)
    finally:
        companion.close()


def test_gui_heartbeat_while_sending_thousands(qtbot, km, td, make_factory, controller_for):
    fill(make_factory(km_url=km.url, pem=km.public_key_pem), 200)  # KeyManager's queue
    factory = make_factory(km_url=km.url, td_url=td.url, pem=km.public_key_pem, timeout=10)
    companion = factory()
    companion.close()
    fill(make_factory(td_url=td.url), 3000)  # TelemetryDeck's queue
    km.slow = 0.02
    td.slow = 0.2
    beats: list[float] = []
    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    heartbeat.start()
    ctl = controller_for(factory, interval=0.5)
    started = time.perf_counter()
    qtbot.waitUntil(lambda: ctl.snapshot.queued == 0 and not ctl.snapshot.sending, timeout=100_000)
    heartbeat.stop()
    elapsed = time.perf_counter() - started
    gaps = sorted((b - a for a, b in itertools.pairwise(beats)), reverse=True)
    largest, second = gaps[0], gaps[1]
    print(f"\nsent 3000 + 200 events in {elapsed:.1f} s; {len(beats)} heartbeats; "
          f"largest gap {largest * 1000:.1f} ms")
    assert len(km.accepted_events()) == 200
    assert sum(len(r.form) for r in td.requests if r.status == 200) == 3000
    assert elapsed > 2  # the servers really were slow: the test measured something
    # One pause a little over 100 ms was seen once in ~20 clean runs on a 2-core machine (the
    # interpreter's own pause, not our code on the GUI thread); a GUI thread that waits on the
    # network or the disk shows many long gaps, or one of seconds. So: no gap over 250 ms, and
    # none but that one over 100 ms.
    assert largest < 0.250, f"GUI thread blocked for {largest * 1000:.0f} ms"
    assert second < 0.100, f"GUI thread blocked twice, {second * 1000:.0f} ms the second time"
