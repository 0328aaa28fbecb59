"""``PanelWatch``: asks every interval until a system tray is there, then once says so and stops."""

from __future__ import annotations

from app.tray.panel_watch import INTERVAL_MS, PanelWatch


def test_it_calls_once_when_the_tray_appears_and_then_stops_asking(qtbot):
    there = [False]
    asked: list[bool] = []
    appeared: list[int] = []

    def available() -> bool:
        asked.append(there[0])
        return there[0]

    watch = PanelWatch(lambda: appeared.append(1), available, interval_ms=20)
    watch.start()
    qtbot.waitUntil(lambda: len(asked) >= 3, timeout=2000)
    assert appeared == [] and watch.watching
    there[0] = True
    qtbot.waitUntil(lambda: appeared == [1], timeout=2000)
    assert not watch.watching
    count = len(asked)
    qtbot.wait(100)
    assert len(asked) == count and appeared == [1]  # no more questions once it is shown


def test_the_default_is_a_cheap_look_every_two_seconds():
    assert INTERVAL_MS == 2_000
