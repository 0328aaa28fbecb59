"""The order of a send run: one request at a time, each answer stored before the next leaves.

Real SQLite file, real TelemetryDeck receiver (100 signals per request, so every round is one
request), and the real KeyManager receiver (one event per request). What is checked: every
commit is on the sending thread, and each answer is stored before the next request leaves;
between two KeyManager requests there is one commit, the answer and the next mark together; a
failure to store an answer stops the run with its rows kept; a revoke or a stop that comes while
a request is in flight keeps the next batch from leaving and from being marked.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.storage.config import load_config
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


@contextlib.contextmanager
def while_the_first_request_waits(td, action):
    """Run ``action`` on another thread once the receiver holds the first request; the event
    it yields is set once ``action`` ran (the thread is joined on leaving)."""
    done = threading.Event()

    def run():
        td.wait_for_requests(1, timeout=20, finished=False)
        action()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield done
    finally:
        thread.join(30)


def rows(companion):
    return companion.db.connection().execute(
        "SELECT count(*), count(in_flight_since), sum(unanswered) FROM outbox").fetchone()


def count_commits(db) -> list[str]:
    """Every COMMIT from now on, on any thread's connection (each thread has its own)."""
    commits: list[str] = []
    real_connect = db._connect

    def trace(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            commits.append(threading.current_thread().name)

    def connect():
        conn = real_connect()
        conn.set_trace_callback(trace)
        return conn

    db._connect = connect
    db.connection().set_trace_callback(trace)
    return commits


def test_every_commit_is_on_the_sending_thread(companion, td):
    sending = threading.current_thread().name
    commits = count_commits(companion.db)
    report = companion.send()["telemetrydeck"]
    assert report.requests == 3 and report.delivered == EVENTS
    # the lease taken, each round's mark, each answer, the lease given back: no other thread
    assert commits == [sending] * (1 + 3 + 3 + 1), commits
    entries = companion.history(10)
    assert [e.event_count for e in reversed(entries)] == [100, 100, 1]  # in order
    assert rows(companion) == (0, 0, None)


def test_each_answer_is_stored_before_the_next_request_leaves(companion, td, monkeypatch):
    history = companion.senders["telemetrydeck"].history
    real_record = history.record
    arrived_when_stored: list[int] = []

    def record(*args, **kwargs):
        arrived_when_stored.append(len(td.requests))
        return real_record(*args, **kwargs)

    monkeypatch.setattr(history, "record", record)
    td.slow = 0.05
    report = companion.send()["telemetrydeck"]
    assert report.delivered == EVENTS
    assert arrived_when_stored == [1, 2, 3]
    assert [e.event_count for e in reversed(companion.history(10))] == [100, 100, 1]


def test_a_failure_to_store_an_answer_stops_the_run_and_keeps_the_rows(companion, td,
                                                                       monkeypatch):
    from app.model.errors import StorageError

    history = companion.senders["telemetrydeck"].history
    real_record = history.record
    calls = []

    def record(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("disk full (test)")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(history, "record", record)
    with pytest.raises(StorageError):
        companion.send()
    # the first answer was not stored: its rows stay, marked (a possible duplicate when
    # resent), and nothing else left
    assert len(td.requests) == 1
    count, in_flight, _ = rows(companion)
    assert count == EVENTS and in_flight == 100
    monkeypatch.setattr(history, "record", real_record)
    again = companion.send(force=True)["telemetrydeck"]
    assert again.delivered == EVENTS
    assert rows(companion) == (0, 0, None)


def test_between_two_keymanager_requests_there_is_one_commit(tmp_path, signing_key):
    from app.receiver import KeyManagerReceiver
    from tests.configs import API_KEY, keymanager

    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key) as km:
        pem = tmp_path / "km.pem"
        pem.write_bytes(km.public_key_pem)
        config = write_vendor_config(tmp_path / "km.toml",
                                     keymanager=keymanager(km.url, public_key=str(pem)))
        companion = build_companion(load_config(config), tmp_path / "km-home",
                                    license_key=lambda: "AB12-CD34", identity=lambda: IDENTITY,
                                    environ={})
        try:
            companion.grant()
            for i in range(5):
                companion.track("feature.a", kind="number", value=i)
            commits = count_commits(companion.db)
            report = companion.send()["keymanager"]
            assert report.requests == 5 and report.delivered == 5
            # the lease taken, the first mark, one per answer (carrying the next mark), the
            # lease given back: all on this thread
            assert commits == [threading.current_thread().name] * (1 + 1 + 5 + 1), commits
            assert len(km.accepted_events()) == 5
        finally:
            companion.close()


def test_a_revoke_while_a_request_is_in_flight_keeps_the_next_batch_home(
        companion, td, config, tmp_path):
    other = open_companion(config, tmp_path)  # as another process sees the same file
    td.slow = 0.5
    try:
        with while_the_first_request_waits(td, lambda: other.revoke(["usage"])) as revoked:
            report = companion.send()["telemetrydeck"]
    finally:
        other.close()
    assert revoked.is_set()
    assert len(td.requests) == 1, "the next batch was sent after the revoke"
    assert report.requests == 1
    assert rows(companion) == (0, 0, None)  # all deleted by the revoke, none left marked


def test_a_stop_while_a_request_is_in_flight_leaves_the_next_batch_unmarked(companion, td):
    sender = companion.senders["telemetrydeck"]
    td.slow = 0.5
    with while_the_first_request_waits(td, sender.abort.set) as stopped:
        report = companion.send()["telemetrydeck"]
    assert stopped.is_set()
    assert report.stopped == "stopped on request"
    assert len(td.requests) == 1 and report.delivered == 100
    # the next 100 were never marked: no false "may have arrived" later
    assert rows(companion) == (EVENTS - 100, 0, 0)


def test_a_failed_request_stops_the_run_with_the_rest_queued(companion, td):
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
