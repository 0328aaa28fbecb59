"""The next round is read while a request is in flight; that never weakens the send rules.

Real SQLite file, real TelemetryDeck receiver (100 signals per request, so every round is one
request). What is checked: the next batch is read while the rows before it are still marked in
flight; between two requests there is one commit; a revoke or a stop that comes while a request
is in flight keeps the batch read ahead from leaving and from being marked.
"""

from __future__ import annotations

import threading

import pytest

from app.service.identity import Identity
from app.storage.config import load_config
from app.wiring import build_companion
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(120)
IDENTITY = Identity("u" * 32, "a" * 32, "test", "test")
EVENTS = 201  # three rounds: 100, 100, 1


@pytest.fixture()
def config(tmp_path, td):
    return write_vendor_config(tmp_path / "companion.toml",
                               telemetrydeck=telemetrydeck(td.url, timeout=5))


def open_companion(config, tmp_path):
    return build_companion(load_config(config), tmp_path / "home",
                           identity=lambda: IDENTITY, environ={})


@pytest.fixture()
def companion(config, tmp_path):
    companion = open_companion(config, tmp_path)
    companion.grant()
    with companion.db.write():  # one transaction for the whole set-up
        for i in range(EVENTS):
            companion.track("feature.a", kind="number", value=i)
    yield companion
    companion.close()


def rows(companion):
    return companion.db.connection().execute(
        "SELECT count(*), count(in_flight_since), sum(unanswered) FROM outbox").fetchone()


def test_the_next_batch_is_read_while_the_request_before_it_is_in_flight(companion, td,
                                                                          monkeypatch):
    outbox = companion.outbox
    real_peek = outbox.peek
    seen: list[tuple[str, int]] = []

    def peek(*args, **kwargs):
        # on the reading thread's own connection: what is committed at that moment
        (in_flight,) = companion.db.connection().execute(
            "SELECT count(*) FROM outbox WHERE in_flight_since IS NOT NULL").fetchone()
        seen.append((threading.current_thread().name, in_flight))
        return real_peek(*args, **kwargs)

    monkeypatch.setattr(outbox, "peek", peek)
    td.slow = 0.05
    report = companion.send()["telemetrydeck"]
    assert report.delivered == EVENTS and report.requests == 3
    assert len(td.accepted_events()) == EVENTS
    first, *ahead = seen
    assert first[1] == 0  # the first batch: nothing is in flight yet
    # each later read ran on the helper while the rows before it were in flight (the last
    # one, behind the single event, finds the queue empty)
    assert [n for _, n in ahead] == [100, 100, 1], seen
    assert all(name != threading.current_thread().name for name, _ in ahead)
    assert rows(companion) == (0, 0, None)


def test_one_commit_between_two_requests(companion, td):
    commits: list[str] = []
    companion.db.connection().set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    report = companion.send()["telemetrydeck"]
    assert report.requests == 3
    # the first mark, then one per answer (carrying the next mark), and the lease taken and
    # given back: at most two more
    assert 1 + 3 <= len(commits) <= 1 + 3 + 2, commits


def test_a_revoke_while_a_request_is_in_flight_keeps_the_batch_read_ahead_home(
        companion, td, config, tmp_path):
    other = open_companion(config, tmp_path)  # as another process sees the same file
    td.slow = 0.5
    revoked = threading.Event()

    def revoke_during_the_first_request():
        td.wait_for_requests(1, timeout=20, finished=False)
        other.revoke(["usage"])
        revoked.set()

    thread = threading.Thread(target=revoke_during_the_first_request)
    thread.start()
    try:
        report = companion.send()["telemetrydeck"]
    finally:
        thread.join(30)
        other.close()
    assert revoked.is_set()
    assert len(td.requests) == 1, "the batch read ahead was sent after the revoke"
    assert report.requests == 1
    assert rows(companion) == (0, 0, None)  # all deleted by the revoke, none left marked


def test_a_stop_while_a_request_is_in_flight_leaves_the_next_batch_unmarked(companion, td):
    sender = companion.senders["telemetrydeck"]
    td.slow = 0.5

    def stop_during_the_first_request():
        td.wait_for_requests(1, timeout=20, finished=False)
        sender.abort.set()

    thread = threading.Thread(target=stop_during_the_first_request)
    thread.start()
    try:
        report = companion.send()["telemetrydeck"]
    finally:
        thread.join(30)
    assert report.stopped == "stopped on request"
    assert len(td.requests) == 1 and report.delivered == 100
    # the next 100 were read ahead but never marked: no false "may have arrived" later
    assert rows(companion) == (EVENTS - 100, 0, 0)


def test_a_failed_request_drops_the_batch_read_ahead(companion, td):
    from app.receiver import Respond

    td.script(Respond(200, b"{}"), Respond(503, b"busy"))
    report = companion.send()["telemetrydeck"]
    assert report.requests == 2 and report.delivered == 100
    assert report.stopped.startswith("will retry")
    assert rows(companion) == (EVENTS - 100, 0, 0)
    td.script()
    again = companion.send(force=True)["telemetrydeck"]
    assert again.delivered == EVENTS - 100
    assert sorted(s["payload"]["floatValue"] for s in td.accepted_events()) == [
        float(i) for i in range(100, EVENTS)]
