"""The KeyManager receiver over a real loopback socket, driven with plain ``requests``."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from app.backends.keymanager import KeyManagerBackend
from app.backends.signature import verify_envelope
from app.model.event import make_event
from app.model.wire import HttpResponse, SendContext, SignatureStatus, Verdict
from app.receiver import (
    ACTIVATE_PATH,
    DEACTIVATE_PATH,
    TELEMETRY_PATH,
    VERIFY_PATH,
    KeyManagerReceiver,
    License,
)

pytestmark = pytest.mark.timeout(60)

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
JSON_ACCEPT = {"Accept": "application/json"}


@pytest.fixture()
def rx(signing_key):
    licenses = {LICENSE: License(max_activations=1), "expired-key": License(expired=True)}
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"},
                            licenses=licenses) as receiver:
        yield receiver


def fields(**overrides):
    base = {
        "api_key": API_KEY,
        "data_type": "numeric-single-value",
        "numeric_data_single_value": "50",
        "product_id": "1",
        "user_identifier": "554dddsqfqs4dqd5qsd74q",
        "license_key": LICENSE,
        "activation_identifier": "12135644",
        "product_version": "1.0.1",
        "data_group": "test_group",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def post(rx, path=TELEMETRY_PATH, data=None, headers=JSON_ACCEPT, **kwargs):
    return requests.post(rx.url + path, data=data, headers=headers, timeout=10, **kwargs)


def inner(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["response_base64"], validate=True))


def test_url_is_the_loopback_base_url(rx):
    assert rx.url.startswith("http://127.0.0.1:")
    assert rx.telemetry_url == rx.url + TELEMETRY_PATH


def test_valid_form_is_830_and_signed(rx):
    resp = post(rx, data=fields())
    assert resp.status_code == 200
    envelope = resp.json()
    assert set(envelope) == {"response", "response_base64", "private_key_used", "signature"}
    assert inner(envelope)["code"] == 830
    assert inner(envelope)["message"] == "Correct format data saved"
    assert inner(envelope)["errors"] == []
    assert verify_envelope(envelope["response_base64"], envelope["signature"],
                           rx.public_key_pem) is SignatureStatus.VALID
    assert rx.accepted_events() == [fields()]
    [rec] = rx.requests
    assert rec.encoding == "form"
    assert rec.validation is not None and rec.validation.ok
    assert rec.code == 830 and rec.status == 200 and rec.outcome == "answered"


def test_json_body_is_accepted_and_recorded_as_json(rx):
    resp = post(rx, data=None, json=fields(numeric_data_single_value=50, product_id=1))
    assert inner(resp.json())["code"] == 830
    [rec] = rx.requests
    assert rec.encoding == "json"
    assert any("JSON" in note for note in rec.validation.notes)


def test_missing_fields_are_831_with_laravel_errors(rx):
    resp = post(rx, data={"api_key": API_KEY, "data_type": "text"})
    assert resp.status_code == 200
    answer = inner(resp.json())
    assert answer["code"] == 831
    assert answer["message"] == "Incorrect format data saved"
    assert answer["errors"]["user_identifier"] == ["The user identifier field is required."]
    assert answer["errors"]["text_data"] == [
        "The text data field is required when data type is text."]
    assert rx.accepted_events() == []
    assert len(rx.flagged_events()) == 1


def test_non_numeric_value_is_flagged(rx):
    answer = inner(post(rx, data=fields(numeric_data_single_value="50 apples")).json())
    assert answer["code"] == 831
    assert "numeric_data_single_value" in answer["errors"]


def test_unknown_product_is_flagged(rx):
    answer = inner(post(rx, data=fields(product_id="7")).json())
    assert answer["errors"] == {"product_id": ["The selected product id is invalid."]}


def test_wrong_api_key_is_401_code_100(rx):
    resp = post(rx, data=fields(api_key="nope"))
    assert resp.status_code == 401
    envelope = resp.json()
    assert inner(envelope)["code"] == 100
    assert verify_envelope(envelope["response_base64"], envelope["signature"],
                           rx.public_key_pem) is SignatureStatus.VALID
    assert rx.accepted_events() == []


def test_missing_api_key_is_401_even_without_a_configured_key(signing_key):
    with KeyManagerReceiver(private_key=signing_key) as rx:
        resp = post(rx, data=fields(api_key=None))
        assert resp.status_code == 401
        assert inner(resp.json())["code"] == 100
        assert inner(post(rx, data=fields(api_key="any")).json())["code"] == 830


def test_accept_header_is_required(rx):
    resp = post(rx, data=fields(), headers={"Accept": "*/*"})
    assert resp.status_code == 406
    assert rx.accepted_events() == []
    assert "Accept" in rx.requests[0].validation.errors


def test_unsupported_content_type_is_415(rx):
    resp = post(rx, data=b"api_key=x", headers={**JSON_ACCEPT, "Content-Type": "text/plain"})
    assert resp.status_code == 415


def test_unknown_path_and_wrong_method(rx):
    assert post(rx, path="/v1/send-telemetry", data=fields()).status_code == 404
    resp = requests.get(rx.url + TELEMETRY_PATH, headers=JSON_ACCEPT, timeout=10)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST"


def test_license_key_check_is_optional(signing_key):
    with KeyManagerReceiver(private_key=signing_key, check_license_keys=True,
                            licenses={LICENSE: License()}) as rx:
        assert inner(post(rx, data=fields()).json())["code"] == 830
        answer = inner(post(rx, data=fields(license_key="pirated")).json())
        assert answer["errors"] == {"license_key": ["The selected license key is invalid."]}


def license_call(rx, path, license_key=LICENSE, identifier="machine-1"):
    data = {"api_key": API_KEY, "license_key": license_key}
    if identifier is not None:
        data["identifier"] = identifier
    resp = post(rx, path=path, data=data)
    assert resp.status_code == 200
    envelope = resp.json()
    assert verify_envelope(envelope["response_base64"], envelope["signature"],
                           rx.public_key_pem) is SignatureStatus.VALID
    return inner(envelope)["code"]


def test_license_lifecycle(rx):
    assert license_call(rx, VERIFY_PATH) == 202
    assert license_call(rx, ACTIVATE_PATH) == 300
    assert license_call(rx, VERIFY_PATH) == 200
    assert license_call(rx, ACTIVATE_PATH) == 301
    assert license_call(rx, ACTIVATE_PATH, identifier="machine-2") == 302
    assert license_call(rx, DEACTIVATE_PATH) == 400
    assert license_call(rx, DEACTIVATE_PATH) == 401
    assert license_call(rx, VERIFY_PATH) == 202
    assert license_call(rx, ACTIVATE_PATH, identifier="machine-2") == 300


def test_license_errors(rx):
    assert license_call(rx, VERIFY_PATH, license_key="unknown") == 210
    assert license_call(rx, VERIFY_PATH, identifier=None) == 215
    assert license_call(rx, ACTIVATE_PATH, identifier="") == 215
    assert license_call(rx, VERIFY_PATH, license_key="expired-key") == 205
    rx.add_license("new-key", 2)
    assert license_call(rx, ACTIVATE_PATH, license_key="new-key") == 300
    assert license_call(rx, ACTIVATE_PATH, license_key="new-key", identifier="m2") == 300


def test_the_real_backend_is_delivered_and_verified(rx):
    """The companion's own request builder against the receiver: the contract end to end."""
    backend = KeyManagerBackend(rx.url, product_id="1", product_version="1.0.1",
                                public_key_pem=rx.public_key_pem)
    ctx = SendContext(user_identifier="u1", activation_identifier="a1", license_key=LICENSE,
                      api_key=API_KEY)
    events = [make_event("App.launched", kind="number", value=2.5),
              make_event("App.window", kind="xy", value=(1, 2)),
              make_event("App.note", kind="text", value="héllo & bye")]
    for prepared in backend.prepare(events, ctx):
        resp = requests.post(prepared.url, data=prepared.body, headers=dict(prepared.headers),
                             timeout=10)
        outcome = backend.interpret(prepared, HttpResponse(resp.status_code, resp.content,
                                                           {k.lower(): v for k, v in
                                                            resp.headers.items()}))
        assert outcome.verdict is Verdict.DELIVERED, outcome
        assert outcome.signature is SignatureStatus.VALID
    accepted = rx.accepted_events()
    assert [e["data_group"] for e in accepted] == ["App.launched", "App.window", "App.note"]
    assert accepted[2]["text_data"] == "héllo & bye"
    assert accepted[1]["numeric_data_x"] == "1"


def test_record_file_holds_one_json_line_per_request(signing_key, tmp_path):
    path = tmp_path / "km.jsonl"
    with KeyManagerReceiver(private_key=signing_key, record=path) as rx:
        post(rx, data=fields())
        post(rx, data=fields(data_group=""))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    # A handler writes its line once its answer is out, so the second request's line may come
    # first: the lines are put back in the order the requests arrived.
    lines.sort(key=lambda line: line["time"])
    assert [line["code"] for line in lines] == [830, 831]
    assert lines[0]["form"]["data_group"] == "test_group"
    assert lines[0]["body"].startswith("api_key=")
    assert lines[1]["validation"]["errors"]["data_group"] == ["The data group field is required."]
    assert path.stat().st_mode & 0o777 == 0o600  # the bodies carry the API key
