"""The TelemetryDeck receiver over a real loopback socket, driven with plain ``requests``."""

from __future__ import annotations

import json

import pytest
import requests

from app.backends.telemetrydeck import TelemetryDeckBackend
from app.model.event import make_event
from app.model.wire import HttpResponse, SendContext, Verdict
from app.receiver import TelemetryDeckReceiver
from tests.fixtures import telemetrydeck_doc

pytestmark = pytest.mark.timeout(60)

APP_ID = "AAAA-BBBBBBBB-CCCC-DDDD"
JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture()
def rx():
    with TelemetryDeckReceiver() as receiver:
        yield receiver


def signal(**overrides):
    base = {"appID": APP_ID, "clientUser": "myClientUserHash",
            "type": "Actions.LoginView.loginButtonSucceeded"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}  # None leaves the key out


def post(rx, body, headers=JSON_UTF8):
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return requests.post(rx.url, data=data, headers=headers, timeout=10)


def test_url_is_the_full_ingest_url(rx):
    assert rx.url.startswith("http://127.0.0.1:")
    assert rx.url.endswith("/v2/")


def test_the_spec_curl_example_is_accepted(rx):
    resp = post(rx, [signal()])
    assert resp.status_code == 200
    assert rx.accepted_events() == [signal()]
    [rec] = rx.requests
    assert rec.validation.ok and rec.stored and rec.encoding == "json"


def test_the_spec_payload_example_is_accepted(rx):
    doc = telemetrydeck_doc()
    assert doc["example_body"] == [signal()]  # the document's curl example is ``signal()``
    example = doc["example_signal"]
    assert post(rx, [example, signal()]).status_code == 200
    assert rx.accepted_events() == [example, signal()]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain; charset=utf-8", "application/json; charset=latin-1",
     "application/x-www-form-urlencoded"],
)
def test_content_type_must_be_json_utf8(rx, content_type):
    resp = post(rx, [signal()], headers={"Content-Type": content_type})
    assert resp.status_code == 415
    assert rx.accepted_events() == []


def test_charset_can_be_made_optional():
    with TelemetryDeckReceiver(require_charset=False) as rx:
        assert requests.post(rx.url, json=[signal()], timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[{", "malformed JSON"),
        (signal(), "JSON array"),
        ([], "no signals"),
        ([signal(type=None)], "signal[0].type"),
        ([signal(), signal(clientUser=None)], "signal[1].clientUser"),
        ([signal(payload={"Nested.obj": {"a": 1}})], "signal[0].payload.Nested.obj"),
        ([signal(payload={"floatValue": "3.14"})], "floatValue must be a JSON number"),
        ([signal(platform="Linux")], "signal[0].platform: unknown property"),
        ([signal(isTestMode="true")], "signal[0].isTestMode"),
        (b'[{"appID":"a","appID":"b","clientUser":"c","type":"d"}]', "duplicate key"),
        (b'[{"appID":"a","clientUser":"c","type":"d","payload":{"floatValue":NaN}}]',
         "malformed JSON"),
    ],
)
def test_malformed_bodies_are_400_with_a_message(rx, body, needle):
    resp = post(rx, body)
    assert resp.status_code == 400
    assert needle in resp.text
    assert rx.accepted_events() == []


def test_reserved_payload_keys_are_stored_renamed_as_the_service_does(rx):
    sent = signal(payload={"count": 3, "platform": "Linux", "App.kept": "yes"})
    resp = post(rx, [sent])
    assert resp.status_code == 200
    [saved] = rx.accepted_events()
    assert saved["payload"] == {"_count": 3, "_platform": "Linux", "App.kept": "yes"}
    [rec] = rx.requests
    assert rec.form == [sent]  # the record keeps what was sent; ``saved`` what is stored
    assert rec.validation.notes == [
        "signal[0].payload.count: reserved key, stored as _count",
        "signal[0].payload.platform: reserved key, stored as _platform",
    ]


def test_top_level_received_at_is_tolerated_but_noted(rx):
    resp = post(rx, [signal(receivedAt="2026-11-23T16:09:50.123Z")])
    assert resp.status_code == 200
    assert any("receivedAt" in note for note in rx.requests[0].validation.notes)


def test_over_the_limit_is_413():
    with TelemetryDeckReceiver(max_signals=2) as rx:
        assert post(rx, [signal()] * 2).status_code == 200
        assert post(rx, [signal()] * 3).status_code == 413
        assert len(rx.accepted_events()) == 2


def test_the_spec_limit_is_100(rx):
    assert post(rx, [signal()] * 100).status_code == 200
    assert post(rx, [signal()] * 101).status_code == 413


def test_app_id_allow_list():
    with TelemetryDeckReceiver(app_ids={APP_ID}) as rx:
        assert post(rx, [signal()]).status_code == 200
        assert post(rx, [signal(appID="someone-else")]).status_code == 403
    with TelemetryDeckReceiver(app_ids={APP_ID}, app_id_status=401) as rx:
        assert post(rx, [signal(appID="someone-else")]).status_code == 401
        assert rx.accepted_events() == []


def test_wrong_path_and_method(rx):
    base = rx.url[: -len("/v2/")]
    assert requests.post(base + "/v1/", json=[signal()], timeout=10).status_code == 404
    assert requests.get(rx.url, timeout=10).status_code == 405


def test_custom_path():
    with TelemetryDeckReceiver(path="/ingest/v2/") as rx:
        assert rx.url.endswith("/ingest/v2/")
        assert post(rx, [signal()]).status_code == 200


def test_the_real_backend_is_delivered():
    """The companion's own request builder against the receiver: the contract end to end."""
    with TelemetryDeckReceiver(app_ids={APP_ID}) as rx:
        backend = TelemetryDeckBackend(rx.url, APP_ID, salt="s", test_mode=True)
        ctx = SendContext(user_identifier="u1", activation_identifier="a1")
        events = [make_event("App.launched", kind="number", value=2.5,
                             payload={"App.Theme.name": "dark", "App.Flags.beta": True}),
                  make_event("App.window", kind="xy", value=(1, 2)),
                  make_event("App.note", kind="text", value="héllo")]
        [prepared] = backend.prepare(events, ctx)
        resp = requests.post(prepared.url, data=prepared.body, headers=dict(prepared.headers),
                             timeout=10)
        outcome = backend.interpret(prepared, HttpResponse(resp.status_code, resp.content, {
            k.lower(): v for k, v in resp.headers.items()}))
        assert outcome.verdict is Verdict.DELIVERED, (outcome, resp.text)
        accepted = rx.accepted_events()
        assert [s["type"] for s in accepted] == ["App.launched", "App.window", "App.note"]
        assert accepted[0]["payload"]["floatValue"] == 2.5
        assert all(s["isTestMode"] is True for s in accepted)
