"""A request cut off before its answer: marked in flight, resent as a possible duplicate, bounded.

Real SQLite file, real TelemetryDeck receiver; "the process was killed" is what it leaves in
the file: rows still marked in flight.
"""

from __future__ import annotations

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.storage.config import load_config
from app.storage.history import UNCONFIRMED
from app.storage.outbox import MAX_UNANSWERED
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(60)
IDENTITY = Identity("u" * 32, "a" * 32, "test", "test")


@pytest.fixture()
def companion(tmp_path, td):
    config = write_vendor_config(tmp_path / "companion.toml",
                                 telemetrydeck=telemetrydeck(td.url, timeout=3))
    companion = build_companion(load_config(config), tmp_path / "home",
                                identity=lambda: IDENTITY, environ={})
    companion.grant()
    yield companion
    companion.close()


def cut_off(companion, times: int) -> None:
    """What ``times`` sends killed after their request went out leave in the file."""
    seqs = [seq for (seq,) in companion.db.connection().execute("SELECT seq FROM outbox")]
    for _ in range(times):
        companion.outbox.mark_in_flight(seqs)


def test_a_request_is_marked_before_it_goes_out_and_cleared_with_its_answer(companion, td):
    companion.track("feature.a", kind="number", value=1)
    seen = []
    td.on_request = lambda rec: seen.append(companion.db.connection().execute(
        "SELECT in_flight_since IS NOT NULL FROM outbox").fetchall())
    td.slow = 0.0
    report = companion.send()["telemetrydeck"]
    assert report.delivered == 1
    assert seen == [[(1,)]]  # marked, committed, while the server had it
    assert companion.history(10)[0].possible_duplicates == 0


def test_a_cut_off_request_is_resent_and_the_history_says_possible_duplicate(companion, td):
    companion.track("feature.a", kind="number", value=1)
    cut_off(companion, 1)
    assert companion.send()["telemetrydeck"].delivered == 1
    assert len(td.accepted_events()) == 1
    (entry,) = companion.history(10)
    assert entry.possible_duplicates == 1


def test_after_the_bound_an_event_is_not_sent_again_and_the_history_says_so(companion, td):
    companion.track("feature.a", kind="number", value=1)
    companion.track("feature.b", kind="number", value=2)
    first = companion.db.connection().execute("SELECT min(seq) FROM outbox").fetchone()[0]
    for _ in range(MAX_UNANSWERED):  # sent MAX_UNANSWERED times, each cut off
        companion.outbox.mark_in_flight([first])
    report = companion.send()["telemetrydeck"]
    assert [s["type"] for s in td.accepted_events()] == ["feature.b"]
    assert report.delivered == 1
    assert companion.outbox.counts() == {}
    verdicts = [e.verdict for e in companion.history(10)]
    assert UNCONFIRMED in verdicts
    given_up = next(e for e in companion.history(10) if e.verdict == UNCONFIRMED)
    assert given_up.event_count == 1 and "not sent again" in given_up.message


def test_one_below_the_bound_an_event_is_still_resent(companion, td):
    companion.track("feature.a", kind="number", value=1)
    cut_off(companion, MAX_UNANSWERED - 1)
    assert companion.send()["telemetrydeck"].delivered == 1
    assert [s["type"] for s in td.accepted_events()] == ["feature.a"]


def test_a_transport_failure_clears_the_mark_and_does_not_count(companion, tmp_path):
    companion.track("feature.a", kind="number", value=1)
    companion.db.connection()  # opened
    sender = companion.senders["telemetrydeck"]
    sender.backend.url = "http://127.0.0.1:9/v2/"  # nothing listens: the request never left
    companion.send()
    row = companion.db.connection().execute(
        "SELECT in_flight_since, unanswered, attempts FROM outbox").fetchone()
    assert row == (None, 0, 1)


def test_a_failure_before_the_request_leaves_clears_the_mark(companion, monkeypatch):
    """An error that is not the network's (here: no trust store could be built) raises, but
    must not leave rows marked in flight: three such rounds would otherwise give them up."""
    companion.track("feature.a", kind="number", value=1)
    sender = companion.senders["telemetrydeck"]

    def no_trust_store(request):
        raise RuntimeError("no trust store")

    monkeypatch.setattr(sender.client, "send", no_trust_store)
    for _ in range(MAX_UNANSWERED + 1):
        with pytest.raises(RuntimeError):
            companion.send()
    row = companion.db.connection().execute(
        "SELECT in_flight_since, unanswered FROM outbox").fetchone()
    assert row == (None, 0)
    assert companion.outbox.counts() == {"telemetrydeck": 1}
