"""The sender against real loopback receivers: every failure path keeps the events."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import serialization

from app.core.companion import Companion
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.model.consent import Choice
from app.model.wire import SignatureStatus, Verdict
from app.receiver import (
    BadSignature,
    Drop,
    Hang,
    Html,
    KeyManagerReceiver,
    Respond,
    RetryAfter,
    TelemetryDeckReceiver,
    TooLarge,
    Unsigned,
)
from app.storage.config import load_config
from tests.configs import CATEGORIES, DIAGNOSTICS, keymanager, telemetrydeck, vendor_config

pytestmark = pytest.mark.timeout(90)

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
IDENTITY = Identity("u" * 32, "a" * 32, "test", "tester")



class Clock:
    """A clock the test moves by hand, so backoff windows pass instantly."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"}) as rx:
        yield rx


@pytest.fixture()
def make(tmp_path, km, td, signing_key):
    made: list[Companion] = []

    def build(*, km_on=True, td_on=True, pem=True, timeout=2, clock=None, api_key=API_KEY,
              grant=True) -> Companion:
        pem_path = ""
        if pem:
            pem_file = tmp_path / "km.pem"
            pem_file.write_bytes(signing_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            pem_path = str(pem_file)
        path = tmp_path / "companion.toml"
        path.write_text(vendor_config(
            keymanager=keymanager(km.url, api_key, enabled=km_on, public_key=pem_path,
                                  timeout=timeout),
            telemetrydeck=telemetrydeck(td.url, "APP", enabled=td_on, test_mode=True,
                                        timeout=timeout),
            categories=[*CATEGORIES, DIAGNOSTICS],
        ))
        companion = build_companion(
            load_config(path), tmp_path / "home", license_key=lambda: LICENSE,
            identity=lambda: IDENTITY, environ={}, clock=clock or time.time,
        )
        if grant:
            companion.grant()
        made.append(companion)
        return companion

    yield build
    for companion in made:
        companion.close()


def track_three(companion: Companion) -> None:
    companion.track("feature.export", kind="number", value=42, payload={"App.format": "pdf"})
    companion.track("perf.curve", kind="xy", value=(1.5, -2))
    companion.track("diag.note", kind="text", value="disk full")


def test_all_three_kinds_arrive_at_both_backends(make, km, td):
    companion = make()
    track_three(companion)
    reports = companion.send()
    assert reports["keymanager"].delivered == 3 and reports["telemetrydeck"].delivered == 3
    assert companion.outbox.counts() == {}
    got = km.accepted_events()
    assert [e["data_type"] for e in got] == ["numeric-single-value", "numeric-xy-axis", "text"]
    assert got[0]["numeric_data_single_value"] == "42"
    assert (got[1]["numeric_data_x"], got[1]["numeric_data_y"]) == ("1.5", "-2")
    assert got[2]["text_data"] == "disk full"
    for e in got:
        assert e["license_key"] == LICENSE and e["api_key"] == API_KEY
        assert e["user_identifier"] == IDENTITY.user_identifier
        assert e["activation_identifier"] == IDENTITY.activation_identifier
        assert e["product_id"] == "1" and e["product_version"] == "1.0.1"
    signals = td.accepted_events()
    assert [s["type"] for s in signals] == ["feature.export", "perf.curve", "diag.note"]
    assert signals[0]["payload"] == {"App.format": "pdf", "floatValue": 42.0}
    assert all(s["isTestMode"] is True and s["appID"] == "APP" for s in signals)
    history = companion.history()
    assert {h.signature for h in history if h.backend == "keymanager"} == {"valid"}
    assert all(h.verdict == "delivered" for h in history)


def test_not_granted_sends_nothing_and_keeps_events(make, km, td):
    companion = make(grant=False)
    track_three(companion)
    reports = companion.send(force=True)
    assert all("not agreed" in r.stopped for r in reports.values())
    assert km.requests == [] and td.requests == []
    assert companion.outbox.counts() == {"keymanager": 3, "telemetrydeck": 3}
    _ids, deleted = companion.revoke()
    assert deleted == 6 and companion.outbox.counts() == {}


def test_do_not_track_overrides_a_grant(make, km, td, tmp_path):
    companion = make()
    companion.consent.environ = {"DO_NOT_TRACK": "1"}
    result = companion.track("feature.export", kind="number", value=1)
    assert not result.stored
    assert "DO_NOT_TRACK" in companion.send(force=True)["telemetrydeck"].stopped
    assert td.requests == []


def test_disabled_backend_gets_nothing(make, km, td):
    companion = make(km_on=False)
    companion.track("feature.export", kind="number", value=1)
    assert companion.outbox.counts() == {"telemetrydeck": 1}
    companion.send()
    assert km.requests == [] and len(td.accepted_events()) == 1


@pytest.mark.parametrize(
    "behaviour",
    [Respond(500, b"boom"), Respond(503), Html(), Drop(), Drop(reset=True)],
    ids=["500", "503", "html", "drop", "reset"],
)
def test_transient_failures_keep_events_and_back_off(make, km, td, behaviour):
    clock = Clock()
    companion = make(clock=clock)
    companion.track("feature.export", kind="number", value=1)
    km.script(behaviour)
    td.script(behaviour)
    reports = companion.send(force=True)
    for name in ("keymanager", "telemetrydeck"):
        assert reports[name].delivered == 0
        assert reports[name].outcomes[-1].verdict is Verdict.RETRY
        assert "will retry" in reports[name].stopped
    assert companion.outbox.counts() == {"keymanager": 1, "telemetrydeck": 1}
    # The timer respects the backoff ...
    assert companion.send_round()["keymanager"].stopped.startswith("backing off")
    # ... and once it has passed, the events go through and the backoff resets.
    clock.advance(400)
    companion.send_round()
    assert companion.outbox.counts() == {}
    assert companion.status().backend("keymanager").state.failures == 0


@pytest.mark.parametrize("body", [b"{garbage", b"[]", b'{"response": 5}', b""])
def test_keymanager_garbage_is_retried(make, km, td, body):
    companion = make(td_on=False)
    companion.track("feature.export", kind="number", value=1)
    km.script(Respond(200, body))
    report = companion.send(force=True)["keymanager"]
    assert report.outcomes[0].verdict is Verdict.RETRY
    assert companion.outbox.counts() == {"keymanager": 1}


def test_hang_times_out_and_keeps_the_event(make, km, td):
    companion = make(timeout=1, td_on=False)
    companion.track("feature.export", kind="number", value=1)
    km.script(Hang(10))
    started = time.monotonic()
    report = companion.send(force=True)["keymanager"]
    assert time.monotonic() - started < 8
    assert "no answer" in report.outcomes[0].message
    assert companion.outbox.counts() == {"keymanager": 1}


def test_connection_refused_is_retried(make, km, td, tmp_path):
    companion = make(td_on=False)
    companion.track("feature.export", kind="number", value=1)
    km.close()
    report = companion.send(force=True)["keymanager"]
    assert "cannot connect" in report.outcomes[0].message
    assert companion.outbox.counts() == {"keymanager": 1}


def test_retry_after_is_honoured_even_by_send_now(make, km, td):
    clock = Clock()
    companion = make(clock=clock, km_on=False)
    companion.track("feature.export", kind="number", value=1)
    td.script(RetryAfter(429, 120))
    assert companion.send(force=True)["telemetrydeck"].outcomes[0].retry_after == 120
    clock.advance(60)
    report = companion.send(force=True)["telemetrydeck"]
    assert report.requests == 0 and "Retry-After" in report.stopped
    clock.advance(61)
    assert companion.send(force=True)["telemetrydeck"].delivered == 1


@pytest.mark.parametrize("behaviour", [BadSignature(), Unsigned()], ids=["bad", "unsigned"])
def test_bad_signature_is_not_a_confirmation(make, km, td, behaviour):
    companion = make(td_on=False)
    companion.track("feature.export", kind="number", value=1)
    km.script(behaviour)
    report = companion.send(force=True)["keymanager"]
    assert report.outcomes[0].signature in (SignatureStatus.INVALID, SignatureStatus.UNSIGNED)
    assert companion.outbox.counts() == {"keymanager": 1}
    status = companion.status()
    assert any(w.startswith("SECURITY") for w in status.warnings)
    assert companion.history()[0].signature in ("invalid", "unsigned")


def test_wrong_api_key_blocks_the_backend_until_the_user_retries(make, km, td):
    clock = Clock()
    companion = make(api_key="wrong-key-0000", td_on=False, clock=clock)
    companion.track("feature.export", kind="number", value=1)
    report = companion.send(force=True)["keymanager"]
    assert report.outcomes[0].code == 100 and report.outcomes[0].verdict is Verdict.BLOCKED
    clock.advance(3600)
    assert companion.send_round()["keymanager"].stopped.startswith("stopped")
    assert len(km.requests) == 1
    assert companion.outbox.counts() == {"keymanager": 1}
    assert "KeyManager stopped" in " ".join(companion.status().warnings)


def test_flagged_831_is_recorded_and_not_resent(make, km, td, tmp_path):
    companion = make(td_on=False)
    backend = companion.senders["keymanager"].backend
    backend.product_id = "999"
    companion.track("feature.export", kind="number", value=1)
    report = companion.send(force=True)["keymanager"]
    assert report.flagged == 1 and companion.outbox.counts() == {}
    (entry,) = companion.history()
    assert entry.verdict == "flagged" and entry.code == 831
    assert "product_id" in entry.errors


def test_413_splits_the_batch_until_it_fits(tmp_path, make, km):
    with TelemetryDeckReceiver(max_signals=30) as small:
        companion = make(km_on=False)
        companion.senders["telemetrydeck"].backend.url = small.url
        for i in range(100):
            companion.track("feature.export", kind="number", value=i)
        companion.send(force=True)
        companion.send(force=True)
        assert companion.outbox.counts() == {}
        values = [s["payload"]["floatValue"] for s in small.accepted_events()]
        assert sorted(values) == [float(i) for i in range(100)]
        assert any(r.status == 413 for r in small.requests)


def test_scripted_413_on_a_single_event_rejects_it(make, km, td):
    companion = make(km_on=False)
    companion.track("feature.export", kind="number", value=1)
    td.script(TooLarge())
    report = companion.send(force=True)["telemetrydeck"]
    assert report.rejected == 1 and companion.outbox.counts() == {}


def test_telemetrydeck_400_is_rejected_for_good_and_recorded(make, km, td):
    companion = make(km_on=False)
    companion.track("feature.export", kind="number", value=1)
    td.script(Respond(400, b"invalid signal"))
    report = companion.send(force=True)["telemetrydeck"]
    assert report.rejected == 1 and companion.outbox.counts() == {}
    assert companion.history()[0].verdict == "rejected"


def test_not_configured_backend_keeps_events(tmp_path):
    config = load_config(None)  # the embedded default: no credentials
    companion = build_companion(config, tmp_path / "home", identity=lambda: IDENTITY, environ={})
    try:
        companion.grant()
        companion.track("feature.export", kind="number", value=1)
        reports = companion.send(force=True)
        assert all("not configured" in r.stopped for r in reports.values())
        assert companion.outbox.counts() == {"keymanager": 1, "telemetrydeck": 1}
        status = companion.status()
        assert status.backend("keymanager").configured is False
    finally:
        companion.close()


def test_preview_is_what_is_sent(make, km, td):
    companion = make()
    track_three(companion)
    preview = {p.backend: p for p in companion.preview(reveal=True)}
    companion.send()
    assert [r.body for r in preview["keymanager"].requests] == [r.body for r in km.requests]
    assert [r.body for r in preview["telemetrydeck"].requests] == [r.body for r in td.requests]
    masked = companion.preview(reveal=False)
    assert all(LICENSE not in r.body.decode() for p in masked for r in p.requests)


def test_two_companions_never_send_the_same_backend_at_once(make, km, td, tmp_path):
    first = make(td_on=False)
    for i in range(5):
        first.track("feature.export", kind="number", value=i)
    second = build_companion(first.config, first.home, license_key=lambda: LICENSE,
                            identity=lambda: IDENTITY, environ={})
    try:
        assert first.state.claim("lease:keymanager", "someone-else", time.time(), 30)
        report = second.send(force=True)["keymanager"]
        assert report.requests == 0 and "another process" in report.stopped
        first.state.release("lease:keymanager", "someone-else")
        assert second.send(force=True)["keymanager"].delivered == 5
    finally:
        second.close()
    assert [json.loads(json.dumps(dict(parse_qsl(r.body.decode()))))["numeric_data_single_value"]
            for r in km.requests] == ["0", "1", "2", "3", "4"]


def test_a_crashed_holders_lease_is_taken_over_at_once(make, km, td):
    import socket
    import subprocess
    import sys

    companion = make(td_on=False)
    companion.track("feature.export", kind="number", value=1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{socket.gethostname()}:{dead.pid}:deadbeef"
    assert companion.state.claim("lease:keymanager", owner, time.time(), 3600)
    assert companion.send(force=True)["keymanager"].delivered == 1
    # a live holder (this very process, another sender) is respected
    alive = f"{socket.gethostname()}:{os.getpid()}:cafe"
    companion.track("feature.export", kind="number", value=2)
    assert companion.state.claim("lease:keymanager", alive, time.time(), 3600)
    assert companion.send(force=True)["keymanager"].requests == 0


def test_revoke_during_a_round_stops_the_requests_not_yet_sent(make, km, td):
    import threading

    companion = make(td_on=False)
    for i in range(10):
        companion.track("feature.export", kind="number", value=i)
    other = build_companion(companion.config, companion.home, license_key=lambda: LICENSE,
                           identity=lambda: IDENTITY, environ={})
    km.slow = 0.3

    def revoke_after_first():
        km.wait_for_requests(1, timeout=10, finished=False)
        other.revoke(["usage"])

    thread = threading.Thread(target=revoke_after_first)
    thread.start()
    try:
        companion.send_round()
    finally:
        thread.join(10)
        other.close()
    assert 1 <= len(km.requests) <= 2, "revoked events were still sent"
    assert companion.outbox.counts() == {}


def test_abort_stops_the_round_before_its_next_request(make, km, td):
    import threading

    companion = make(td_on=False)
    for i in range(10):
        companion.track("feature.export", kind="number", value=i)
    km.slow = 0.2
    sender = companion.senders["keymanager"]
    threading.Timer(0.3, sender.abort.set).start()
    report = sender.send_round(["usage"])
    assert report.stopped == "stopped on request"
    assert len(km.requests) < 10
    assert companion.outbox.counts()["keymanager"] == 10 - report.delivered


def test_a_rejection_is_not_reported_as_a_success(make, km, td):
    companion = make(km_on=False)
    companion.track("feature.export", kind="number", value=1)
    td.script(Respond(422, b"unprocessable"))
    companion.send(force=True)
    backend = companion.status().backend("telemetrydeck").state
    assert backend.last_success is None
    assert backend.rejected_total == 1 and "422" in (backend.last_rejection or "")
    assert any("refused events for good" in w for w in companion.status().warnings)
    companion.track("feature.export", kind="number", value=2)
    companion.send(force=True)
    assert companion.status().backend("telemetrydeck").state.last_rejection is None


@pytest.mark.parametrize("status", [401, 403])
def test_an_app_id_the_server_refuses_stops_sending_and_keeps_the_events(tmp_path, status):
    """A wrong app ID is the vendor's setup, not the events' fault: nothing is thrown away,
    and the next setup (the vendor's fixed configuration) is tried without the user asking."""
    def companion_for(app_id: str, url: str) -> Companion:
        path = tmp_path / "companion.toml"
        path.write_text(vendor_config(keymanager=keymanager("http://127.0.0.1:9", API_KEY,
                                                            enabled=False),
                                      telemetrydeck=telemetrydeck(url, app_id),
                                      categories=[*CATEGORIES, DIAGNOSTICS]))
        return build_companion(load_config(path), tmp_path / "home", license_key=lambda: LICENSE,
                               identity=lambda: IDENTITY, environ={})

    with TelemetryDeckReceiver(app_ids={"RIGHT-APP"}, app_id_status=status) as rx:
        wrong = companion_for("WRONG-APP", rx.url)
        try:
            wrong.grant()
            for i in range(3):
                wrong.track("feature.export", kind="number", value=i)
            report = wrong.send(force=True)["telemetrydeck"]
            assert report.stopped.startswith(f"stopped: HTTP {status}")
            assert "app_id" in report.stopped and report.rejected == 0
            assert wrong.outbox.counts()["telemetrydeck"] == 3  # kept
            assert any(f"HTTP {status}" in w for w in wrong.status().warnings)
            wrong.send()  # stopped: no request until the setup changes or the user forces one
            assert len(rx.requests) == 1
        finally:
            wrong.close()
        again = companion_for("WRONG-APP", rx.url)  # the same setup: still stopped
        try:
            assert any(f"HTTP {status}" in w for w in again.status().warnings)
            again.send()
            assert len(rx.requests) == 1
        finally:
            again.close()
        right = companion_for("RIGHT-APP", rx.url)  # the vendor mended it: no "Send now" needed
        try:
            assert not any(f"HTTP {status}" in w for w in right.status().warnings)
            right.send()
            assert right.outbox.counts().get("telemetrydeck", 0) == 0
            assert right.senders["telemetrydeck"].info().get("blocked") is None
            assert len(rx.accepted_events()) == 3
        finally:
            right.close()


def test_after_a_413_the_batch_does_not_grow_back_at_once(make, km):
    with TelemetryDeckReceiver(max_signals=60) as small:
        companion = make(km_on=False)
        companion.senders["telemetrydeck"].backend.url = small.url
        for i in range(600):
            companion.track("feature.export", kind="number", value=i)
        companion.send(force=True)
        assert companion.outbox.counts() == {}
        sizes = [len(json.loads(r.body)) for r in small.requests]
        assert sum(1 for r in small.requests if r.status == 413) == 1, sizes
        assert len(sizes) <= 13


def test_an_unreadable_stored_event_is_dropped_not_blocking(make, km, td):
    companion = make(td_on=False)
    companion.track("feature.export", kind="number", value=1)
    with companion.db.write() as conn:
        conn.execute("UPDATE outbox SET event = '{\"name\": \"\"}'")
    companion.track("feature.export", kind="number", value=2)
    assert companion.send(force=True)["keymanager"].delivered == 1
    assert companion.outbox.counts() == {}
    assert companion.state.counter("unreadable:keymanager") == 1


def test_preview_shows_allowed_events_behind_many_held_back_ones(make, km, td):
    companion = make(grant=False, td_on=False)
    for i in range(30):
        companion.track("feature.export", kind="number", value=i)
    companion.track("perf.load", kind="number", value=99)
    (preview,) = companion.preview(limit=1, granted=["performance"])
    assert len(preview.requests) == 1
    assert b"numeric_data_single_value=99" in preview.requests[0].body
    assert preview.held_back == {"usage": 30}


# --- one request, three moments: preview, send, history ---------------------------------


def test_after_a_413_the_preview_is_the_next_request_byte_for_byte(make, td):
    companion = make(km_on=False, grant=False)
    for i in range(150):
        companion.track("feature.export", kind="number", value=i)
        if i % 3 == 0:
            companion.track("diag.note", kind="text", value=f"note {i}")
    companion.grant(["usage"])
    # The "no" to diagnostics is stored while its events are still on disk (as when another
    # process tracked them just before the decision reached it): they must never be sent.
    companion.consent.set(Choice.DENIED, ["diagnostics"])
    td.script(TooLarge())
    report = companion.send_round(force=True)["telemetrydeck"]
    assert report.outcomes[0].verdict is Verdict.SPLIT
    assert len(json.loads(td.requests[0].body)) == 100

    (preview,) = companion.preview()
    assert [len(r.event_ids) for r in preview.requests] == [50, 50, 50]
    assert preview.held_back == {"diagnostics": 50}
    companion.send_round()
    assert td.requests[1].body == preview.requests[0].body  # the very next request, exactly
    companion.send()
    assert [r.body for r in td.requests[1:]] == [r.body for r in preview.requests]
    assert {s["type"] for s in td.accepted_events()} == {"feature.export"}
    assert companion.outbox.counts() == {"telemetrydeck": 50}  # the declined ones, not sent


def test_history_keeps_each_request_as_sent_with_the_secrets_masked(make, km, td):
    from app.core.consent_view import history_data

    companion = make()
    track_three(companion)
    shown = {p.backend: p for p in companion.preview()}  # masked, as the user sees it
    companion.send()
    entries = companion.history()
    sent_km = [e.request for e in reversed(entries) if e.backend == "keymanager"]
    sent_td = [e.request for e in reversed(entries) if e.backend == "telemetrydeck"]
    assert [r.body for r in sent_td] == [r.body for r in td.requests]  # no secret in them
    assert sent_km == shown["keymanager"].requests
    assert [parse_qsl(r.body.decode())[0] for r in sent_km] == [("api_key", "2964…c492")] * 3
    for request in sent_km:
        assert LICENSE not in request.body.decode() and API_KEY not in request.body.decode()
    exported = history_data(entries)
    assert exported[0]["request"]["body"] == entries[0].request.body.decode()
    assert exported[0]["request"]["headers"] == dict(entries[0].request.headers)
    assert "User-Agent" in exported[0]["request"]["headers"]
    files = [companion.db.path, companion.db.path.with_name(companion.db.path.name + "-wal")]
    stored = b"".join(path.read_bytes() for path in files if path.exists())
    assert stored.count(b"2964%E2%80%A6c492") >= 3  # the masked key is there ...
    assert LICENSE.encode() not in stored and API_KEY.encode() not in stored  # ... never the key


def test_history_keeps_requests_only_within_its_bounds(make, km, td):
    companion = make(km_on=False)
    companion.history_store.max_rows = 100
    for i in range(105):
        companion.track("feature.export", kind="number", value=i)
        companion.send_round()
    entries = companion.history()
    assert len(entries) == 100
    assert all(e.request is not None and len(e.request.event_ids) == 1 for e in entries)
    (count,) = companion.db.connection().execute(
        "SELECT count(*) FROM history WHERE request IS NOT NULL").fetchone()
    assert count == 100


def test_track_of_an_undecided_category_is_one_transaction(make):
    companion = make(grant=False)
    statements: list[str] = []
    companion.db.connection().set_trace_callback(statements.append)
    result = companion.track("feature.export", kind="number", value=1)
    companion.db.connection().set_trace_callback(None)
    assert result.stored
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
