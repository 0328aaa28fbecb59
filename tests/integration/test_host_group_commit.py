"""A host group is one transaction: every event refused or stored alone, one commit for all.

Real Companion on real SQLite (``CompanionHost.commit`` is what the endpoint's writer calls);
the statements are counted with SQLite's own trace callback.
"""

from __future__ import annotations

import time

import pytest

import app.door.companion_side as host_companion
from app.door.companion_side import COMMIT_WAKE_EVERY, CompanionHost
from app.door.protocol import TrackItem
from tests.configs import keymanager, offline_companion

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def companion(tmp_path):
    comp = offline_companion(tmp_path, keymanager=keymanager("http://127.0.0.1:9"))
    yield comp
    comp.close()


def test_a_group_commits_once_and_answers_each_event_alone(companion):
    companion.grant(["usage"])
    companion.revoke(["performance"])
    woken: list[str] = []
    host = CompanionHost(companion, wake=lambda: woken.append("wake"))
    items = [TrackItem("feature.a", "number", 1.0), TrackItem("feature.b", "number", "x"),
             TrackItem("perf.c", "number", 3.0), TrackItem("feature.d", "text", "ok", {"k": 1})]
    statements: list[str] = []
    companion.db.connection().set_trace_callback(statements.append)
    outcomes = host.commit(items)
    companion.db.connection().set_trace_callback(None)
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert not any(s.startswith("SAVEPOINT") for s in statements)
    ok, refused, denied, text = outcomes
    assert ok.stored and ok.category == "usage" and ok.error is None
    assert refused.error is not None and refused.error.field == "value"
    assert denied.error is None and not denied.stored and denied.category == "performance"
    assert text.stored
    for backend in ("keymanager", "telemetrydeck"):
        queued = companion.outbox.peek(backend, 10)
        assert [q.event.id for q in queued] == [ok.event_id, text.event_id]
    assert companion.outbox.category_counters()["performance"]["declined"] == 1
    assert woken == ["wake"]


def test_a_group_of_only_refused_events_writes_nothing(companion):
    companion.grant(None)
    host = CompanionHost(companion)
    statements: list[str] = []
    companion.db.connection().set_trace_callback(statements.append)
    (outcome,) = host.commit([TrackItem("no.category", "number", 1.0)])
    companion.db.connection().set_trace_callback(None)
    assert outcome.error is not None and outcome.error.field == "name"
    assert "BEGIN IMMEDIATE" not in statements
    assert companion.outbox.counts() == {}


def test_commits_in_a_burst_wake_the_sender_once_now_and_once_at_the_end(companion,
                                                                          monkeypatch):
    companion.grant(None)
    now = [1000.0]
    monkeypatch.setattr(host_companion, "_monotonic", lambda: now[0])
    woken: list[float] = []
    host = CompanionHost(companion, wake=lambda: woken.append(now[0]))
    for i in range(5):  # the clock stands still: all within one interval
        host.commit([TrackItem("feature.a", "number", float(i))])
    assert woken == [1000.0]  # the first at once; the others wait for the interval's end
    deadline = time.monotonic() + 10 * COMMIT_WAKE_EVERY + 10
    while len(woken) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert woken == [1000.0, 1000.0]  # one trailing wake for the four, none forgotten
    now[0] += COMMIT_WAKE_EVERY + 1  # a later commit, past the interval: at once again
    host.commit([TrackItem("feature.a", "number", 9.0)])
    assert len(woken) == 3
    time.sleep(COMMIT_WAKE_EVERY * 2)
    assert len(woken) == 3  # nothing pending: no timer, no extra wake
