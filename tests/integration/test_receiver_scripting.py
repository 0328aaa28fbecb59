"""Scripted failures, slow mode, recording, shutdown and ``run_receiver``."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest
import requests

from app.backends.signature import verify_envelope
from app.model.wire import SignatureStatus
from app.receiver import (
    TELEMETRY_PATH,
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
    iter_records,
    run_receiver,
)

pytestmark = pytest.mark.timeout(60)

TD_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
TD_BODY = json.dumps([{"appID": "a", "clientUser": "b", "type": "c"}]).encode()
KM_FIELDS = {
    "api_key": "k", "data_type": "text", "text_data": "t", "product_id": "1",
    "user_identifier": "u", "license_key": "l", "activation_identifier": "a",
    "product_version": "1", "data_group": "g",
}


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(private_key=signing_key) as rx:
        yield rx


def km_post(rx, timeout=10.0):
    return requests.post(rx.url + TELEMETRY_PATH, data=KM_FIELDS,
                         headers={"Accept": "application/json"}, timeout=timeout)


def td_post(rx, timeout=10.0):
    return requests.post(rx.url, data=TD_BODY, headers=TD_HEADERS, timeout=timeout)


def signature_status(rx, resp):
    envelope = resp.json()
    return verify_envelope(envelope["response_base64"], envelope["signature"], rx.public_key_pem)


def test_behaviours_are_consumed_one_per_request_in_order(td):
    td.script(Respond(500, b"boom"), Respond(502))
    assert len(td.pending_script()) == 2
    first, second, third = td_post(td), td_post(td), td_post(td)
    assert (first.status_code, first.content) == (500, b"boom")
    assert second.status_code == 502
    assert third.status_code == 200
    assert td.pending_script() == []
    assert [r.behaviour for r in td.requests] == [Respond(500, b"boom"), Respond(502), None]
    assert len(td.accepted_events()) == 1  # scripted answers store nothing


def test_respond_sends_headers_verbatim(km):
    km.script(Respond(503, b"{}", {"Content-Type": "application/json", "X-Test": "1"}))
    resp = km_post(km)
    assert resp.status_code == 503
    assert resp.headers["X-Test"] == "1"
    assert km.accepted_events() == []


@pytest.mark.parametrize("post", [km_post, td_post])
def test_hang_triggers_the_client_read_timeout(request, post):
    rx = request.getfixturevalue("km" if post is km_post else "td")
    rx.script(Hang(30))
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(rx, timeout=(5, 0.3))
    # The request was read and recorded even though it was never answered.
    assert rx.requests[0].body
    assert rx.requests[0].status is None


def test_hang_that_ends_closes_without_an_answer(td):
    td.script(Hang(0.05))
    with pytest.raises(requests.exceptions.ConnectionError):
        td_post(td)
    assert td.wait_for_requests(1)
    assert td.requests[0].outcome == "hung"
    assert td_post(td).status_code == 200


@pytest.mark.timeout(30)
def test_close_is_bounded_while_a_hang_is_in_progress(signing_key):
    rx = KeyManagerReceiver(private_key=signing_key, shutdown_timeout=5)
    rx.start()
    rx.script(Hang(600))
    errors = []

    def client():
        try:
            km_post(rx, timeout=(5, 120))
        except requests.exceptions.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=client, daemon=True)
    caller.start()
    # The request is recorded before its behaviour runs: once received, the hang has begun.
    assert rx.wait_for_requests(1, finished=False)
    closer = threading.Thread(target=rx.close, daemon=True)
    closer.start()
    closer.join(20)  # a generous bound far below the 600 s hang
    assert not closer.is_alive(), "close() waited for the hang"
    caller.join(20)
    assert not caller.is_alive()
    assert errors and isinstance(errors[0], requests.exceptions.ConnectionError)


@pytest.mark.parametrize("reset", [False, True])
def test_drop_closes_without_a_response(td, reset):
    td.script(Drop(reset=reset))
    with pytest.raises(requests.exceptions.ConnectionError):
        td_post(td)
    assert td.wait_for_requests(1)
    assert td.requests[0].outcome == "dropped"
    assert td.accepted_events() == []


@pytest.mark.parametrize("status", [200, 302])
def test_html_is_a_captive_portal_page(km, status):
    km.script(Html(status))
    resp = requests.post(km.url + TELEMETRY_PATH, data=KM_FIELDS,
                         headers={"Accept": "application/json"}, timeout=10,
                         allow_redirects=False)
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("text/html")
    assert resp.text.lstrip().lower().startswith("<!doctype html")
    assert km.accepted_events() == []


def test_bad_signature_stores_but_does_not_verify(km):
    km.script(BadSignature())
    resp = km_post(km)
    assert resp.status_code == 200
    envelope = resp.json()
    assert json.loads(base64.b64decode(envelope["response_base64"]))["code"] == 830
    assert signature_status(km, resp) is SignatureStatus.INVALID
    # The next answer is signed properly again.
    assert signature_status(km, km_post(km)) is SignatureStatus.VALID


def test_unsigned_says_private_key_not_set(km):
    km.script(Unsigned())
    resp = km_post(km)
    assert resp.json()["signature"] == "Private key not set"
    assert signature_status(km, resp) is SignatureStatus.UNSIGNED


def test_signature_behaviours_are_harmless_on_telemetrydeck(td):
    td.script(BadSignature(), Unsigned())
    assert td_post(td).status_code == 200
    assert td_post(td).status_code == 200


@pytest.mark.parametrize("post", [km_post, td_post])
def test_too_large_is_413(request, post):
    rx = request.getfixturevalue("km" if post is km_post else "td")
    rx.script(TooLarge())
    assert post(rx).status_code == 413
    assert rx.accepted_events() == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after(td, status):
    td.script(RetryAfter(status, 42))
    resp = td_post(td)
    assert resp.status_code == status
    assert resp.headers["Retry-After"] == "42"


def test_slow_mode_delays_every_answer_until_switched_off(td):
    td.slow = 30
    with pytest.raises(requests.exceptions.ReadTimeout):
        td_post(td, timeout=(5, 0.3))
    with pytest.raises(requests.exceptions.ReadTimeout):
        td_post(td, timeout=(5, 0.3))
    td.slow = 0
    assert td_post(td).status_code == 200


def test_slow_mode_counts_the_latency_from_the_request_s_arrival(td):
    """The receiver's own work is inside the latency: a request that arrived ``slow`` seconds
    ago (its handling took that long) is answered at once; one that just arrived still waits."""
    import time

    td.slow = 30
    done: list[str] = []

    def delay(arrived: float) -> None:
        try:
            td._delay(arrived)
            done.append("answered")
        except Exception as exc:  # _Stopped when the receiver closes while it waits
            done.append(type(exc).__name__)

    late = threading.Thread(target=delay, args=(time.monotonic() - 31,))
    late.start()
    late.join(10)  # a bound against hanging, far below the 30 s it would wait if counted anew
    assert done == ["answered"]
    fresh = threading.Thread(target=delay, args=(time.monotonic(),))
    fresh.start()
    fresh.join(0.3)
    assert fresh.is_alive()  # still waiting for its 30 s
    td.close()  # wakes it
    fresh.join(10)
    assert done == ["answered", "_Stopped"]


def test_clear_forgets_requests_and_script(td):
    td.script(Respond(500))
    td_post(td)
    td.script(Respond(500))
    td.clear()
    assert td.requests == []
    assert td_post(td).status_code == 200


def test_record_file_has_every_outcome(tmp_path):
    path = tmp_path / "td.jsonl"
    with TelemetryDeckReceiver(record=path) as rx:
        rx.script(Drop(), Respond(500))
        for _ in range(3):
            try:
                td_post(rx)
            except requests.exceptions.ConnectionError:
                pass
        assert rx.wait_for_requests(3)
    # Each handler thread writes its record after answering, so two answers close together
    # may be recorded in either order: match them by status, not by line.
    by_status = {r["status"]: r for r in iter_records(path)}
    assert sorted(by_status, key=str) == sorted([None, 500, 200], key=str)
    assert by_status[None]["outcome"] == "dropped"
    assert by_status[None]["behaviour"] == "Drop(reset=False)"
    assert by_status[500]["outcome"] == by_status[200]["outcome"] == "answered"
    assert by_status[200]["stored"] is True
    assert json.loads(by_status[200]["body"]) == json.loads(TD_BODY)


def test_binary_bodies_are_recorded_as_base64(tmp_path):
    path = tmp_path / "td.jsonl"
    with TelemetryDeckReceiver(record=path) as rx:
        requests.post(rx.url, data=b"\xff\xfe", headers=TD_HEADERS, timeout=10)
    [record] = iter_records(path)
    assert base64.b64decode(record["body_base64"]) == b"\xff\xfe"
    assert record["status"] == 400


def run_in_thread(kind, **kwargs):
    out = io.StringIO()
    stop = threading.Event()
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("rc", run_receiver(kind, stop=stop, out=out, **kwargs)),
        daemon=True,
    )
    thread.start()
    return out, stop, thread, result


def wait_for_line(out, thread):
    for _ in range(1000):
        if out.getvalue().endswith("\n") or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    return out.getvalue().strip()


def test_run_receiver_keymanager_prints_url_and_public_key(tmp_path):
    pem_path = tmp_path / "public.pem"
    out, stop, thread, result = run_in_thread("keymanager", api_key="k", public_key_out=pem_path)
    try:
        line = wait_for_line(out, thread)
        assert "keymanager receiver listening on http://127.0.0.1:" in line
        assert str(pem_path) in line
        url = line.split("listening on ")[1].split()[0]
        resp = requests.post(url + TELEMETRY_PATH, data=KM_FIELDS,
                             headers={"Accept": "application/json"}, timeout=10)
        envelope = resp.json()
        assert verify_envelope(envelope["response_base64"], envelope["signature"],
                               pem_path.read_bytes()) is SignatureStatus.VALID
    finally:
        stop.set()
        thread.join(20)
    assert result == {"rc": 0}


def test_run_receiver_telemetrydeck_uses_api_key_as_app_id(tmp_path):
    record = tmp_path / "rec.jsonl"
    out, stop, thread, result = run_in_thread("telemetrydeck", api_key="a", record=record)
    try:
        line = wait_for_line(out, thread)
        url = line.split("listening on ")[1].split()[0]
        assert url.endswith("/v2/")
        assert requests.post(url, data=TD_BODY, headers=TD_HEADERS, timeout=10).status_code == 200
        other = TD_BODY.replace(b'"a"', b'"other"')
        assert requests.post(url, data=other, headers=TD_HEADERS, timeout=10).status_code == 403
    finally:
        stop.set()
        thread.join(20)
    assert result == {"rc": 0}
    assert len(list(iter_records(record))) == 2


def test_run_receiver_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown receiver kind"):
        run_receiver("nope", stop=threading.Event(), out=io.StringIO())
