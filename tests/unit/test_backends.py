"""The two request builders and response interpreters, against the specs' own examples."""

import base64
import hashlib
import json
import re
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from app.backends.keymanager import KeyManagerBackend, KeyManagerLicense, format_number
from app.backends.signature import sign_envelope, verify_envelope
from app.backends.telemetrydeck import MAX_SIGNALS, TelemetryDeckBackend, client_user
from app.model.event import TELEMETRYDECK_RESERVED, make_event
from app.model.wire import HttpResponse, SendContext, SignatureStatus, Verdict
from tests.fixtures import keymanager_doc, keymanager_examples, telemetrydeck_doc

CTX = SendContext(
    user_identifier="u" * 32,
    activation_identifier="a" * 32,
    license_key="9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
    api_key="2964c3c9-0b5d-4d89-b3ac-4668f30bc492",
)
# The fields every request carries: the document's "Yes" rows, less those it only requires for
# one data type ("Required if data type is ...").
KM_FIELDS = [
    row["name"] for row in keymanager_doc()["parameters"]
    if row["required_column"] == "Yes" and not row["description"].startswith("Required if")
]


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def km(pem=None):
    return KeyManagerBackend("https://keys.example.com/", "7", "1.2.3", pem)


def envelope(inner, key=None, signature=None):
    encoded = base64.b64encode(json.dumps(inner).encode()).decode()
    if signature is None:
        signature = sign_envelope(encoded, key) if key else "Private key not set"
    return json.dumps(
        {"response": inner, "response_base64": encoded, "private_key_used": "product",
         "signature": signature}
    ).encode()


# --- KeyManager requests ----------------------------------------------------------------


def test_keymanager_request_has_every_spec_field():
    event = make_event("feature.export", kind="number", value=50)
    (req,) = km().prepare([event], CTX)
    assert req.method == "POST"
    assert req.url == "https://keys.example.com/api/v1/send-telemetry-data"
    assert req.header("Accept") == "application/json"
    assert req.header("content-type") == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(req.body.decode(), keep_blank_values=True))
    assert set(KM_FIELDS) <= set(fields)
    assert fields["data_type"] == "numeric-single-value"
    assert fields["numeric_data_single_value"] == "50"
    assert fields["data_group"] == "feature.export"
    assert fields["product_id"] == "7" and fields["product_version"] == "1.2.3"
    assert fields["license_key"] == CTX.license_key
    assert req.event_ids == (event.id,)


def test_keymanager_fields_are_the_documents_table():
    assert KM_FIELDS == [
        "api_key", "data_type", "product_id", "user_identifier", "license_key",
        "activation_identifier", "product_version", "data_group",
    ]
    names = {row["name"] for row in keymanager_doc()["parameters"]}
    for kind, value in (("number", 1), ("xy", (1, 2)), ("text", "t")):
        (req,) = km().prepare([make_event("feature.x", kind=kind, value=value)], CTX)
        assert set(dict(parse_qsl(req.body.decode(), keep_blank_values=True))) <= names


def test_keymanager_xy_and_text():
    xy = make_event("perf.curve", kind="xy", value=(1, 2.5))
    text = make_event("diag.msg", kind="text", value="héllo & goodbye=1")
    r1, r2 = km().prepare([xy, text], CTX)
    f1 = dict(parse_qsl(r1.body.decode()))
    f2 = dict(parse_qsl(r2.body.decode()))
    assert (f1["data_type"], f1["numeric_data_x"], f1["numeric_data_y"]) == ("numeric-xy-axis", "1", "2.5")
    assert "numeric_data_single_value" not in f1
    assert (f2["data_type"], f2["text_data"]) == ("text", "héllo & goodbye=1")


def test_empty_license_key_is_sent_empty_not_invented():
    event = make_event("feature.export", kind="number", value=1)
    (req,) = km().prepare([event], SendContext("u", "a", "", "k"))
    fields = parse_qsl(req.body.decode(), keep_blank_values=True)
    assert ("license_key", "") in fields


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_survive_text_formatting(value):
    assert float(format_number(value)) == value


@given(
    st.sampled_from(["number", "xy", "text"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=("Cs", "Cc", "Cf")), min_size=1,
            max_size=200).filter(str.strip),
)
def test_keymanager_body_round_trips_any_event(kind, x, y, text):
    value = {"number": x, "xy": (x, y), "text": text}[kind]
    event = make_event("feature.any", kind=kind, value=value)
    (req,) = km().prepare([event], CTX)
    fields = dict(parse_qsl(req.body.decode("ascii"), keep_blank_values=True))
    if kind == "number":
        assert float(fields["numeric_data_single_value"]) == x
    elif kind == "xy":
        assert (float(fields["numeric_data_x"]), float(fields["numeric_data_y"])) == (x, y)
    else:
        assert fields["text_data"] == text


# --- KeyManager responses ---------------------------------------------------------------


def test_spec_examples_decode_to_830_and_831():
    bodies = [json.dumps(example) for example in keymanager_examples()]
    codes = []
    for body in bodies:
        outcome = km().interpret(None, HttpResponse(200, body.encode()))
        codes.append((outcome.code, outcome.verdict))
    assert codes == [(831, Verdict.FLAGGED), (830, Verdict.DELIVERED)]
    flagged = km().interpret(None, HttpResponse(200, bodies[0].encode()))
    assert "license_key" in flagged.errors


def test_spec_examples_do_not_verify_against_another_key(pem):
    body = keymanager_examples()[1]
    status = verify_envelope(body["response_base64"], body["signature"], pem)
    assert status is SignatureStatus.INVALID
    outcome = km(pem).interpret(None, HttpResponse(200, json.dumps(body).encode()))
    assert outcome.verdict is Verdict.RETRY and outcome.signature is SignatureStatus.INVALID


def test_signed_830_verifies(key, pem):
    body = envelope({"code": 830, "message": "Correct format data saved", "errors": []}, key)
    outcome = km(pem).interpret(None, HttpResponse(200, body))
    assert outcome.verdict is Verdict.DELIVERED
    assert outcome.signature is SignatureStatus.VALID


def test_answer_is_read_from_the_signed_part_not_the_plain_object(key, pem):
    signed = {"code": 831, "message": "Incorrect format data saved", "errors": {"x": ["bad"]}}
    body = json.loads(envelope(signed, key))
    body["response"] = {"code": 830, "message": "tampered"}
    outcome = km(pem).interpret(None, HttpResponse(200, json.dumps(body).encode()))
    assert outcome.code == 831 and outcome.verdict is Verdict.FLAGGED


def test_signature_over_reencoded_json_is_rejected(key, pem):
    inner = {"code": 830, "message": "ok"}
    body = json.loads(envelope(inner, key))
    # What the SDKs do: sign/verify a re-serialised object instead of the base64 text.
    body["signature"] = sign_envelope(base64.b64encode(json.dumps(inner, indent=1).encode()).decode(), key)
    outcome = km(pem).interpret(None, HttpResponse(200, json.dumps(body).encode()))
    assert outcome.verdict is Verdict.RETRY and outcome.signature is SignatureStatus.INVALID


def test_unsigned_answer_with_public_key_is_not_a_confirmation(pem):
    body = envelope({"code": 830, "message": "ok"}, signature="Private key not set")
    outcome = km(pem).interpret(None, HttpResponse(200, body))
    assert outcome.verdict is Verdict.RETRY
    assert outcome.signature is SignatureStatus.UNSIGNED
    # without a configured key the same answer is accepted, marked not checked
    outcome = km().interpret(None, HttpResponse(200, body))
    assert outcome.verdict is Verdict.DELIVERED and outcome.signature is SignatureStatus.NOT_CHECKED


@pytest.mark.parametrize("code,status", [(100, 401), (101, 401), (102, 401), (103, 401), (150, 403)])
def test_auth_codes_block_the_backend(key, pem, code, status):
    body = envelope({"code": code, "message": "Invalid API key"}, key)
    outcome = km(pem).interpret(None, HttpResponse(status, body))
    assert outcome.verdict is Verdict.BLOCKED and outcome.code == code


@pytest.mark.parametrize(
    "response,verdict",
    [
        (HttpResponse(500, b"oops"), Verdict.RETRY),
        (HttpResponse(503, b"", {"retry-after": "7"}), Verdict.RETRY),
        (HttpResponse(429, b"", {"retry-after": "30"}), Verdict.RETRY),
        (HttpResponse(200, b"not json"), Verdict.RETRY),
        (HttpResponse(200, b"<html><body>Login to Wi-Fi</body></html>",
                      {"content-type": "text/html"}), Verdict.RETRY),
        (HttpResponse(401, b"Unauthorized"), Verdict.BLOCKED),
        (HttpResponse(404, b"Not Found"), Verdict.BLOCKED),
    ],
)
def test_keymanager_transport_level_answers(response, verdict):
    outcome = km().interpret(None, response)
    assert outcome.verdict is verdict
    if response.header("retry-after"):
        assert outcome.retry_after == float(response.header("retry-after"))


# --- TelemetryDeck ----------------------------------------------------------------------


def td(test_mode=True):
    return TelemetryDeckBackend("https://nom.telemetrydeck.com/v2/", "APP-ID", "pepper", test_mode)


def test_telemetrydeck_signal_shape():
    event = make_event("feature.export", kind="number", value=3.5, payload={"App.format": "pdf"},
                       timestamp=1_700_000_000.25)
    (req,) = td().prepare([event], CTX)
    assert req.header("Content-Type") == "application/json; charset=utf-8"
    (signal,) = json.loads(req.body)
    assert signal == {
        "appID": "APP-ID",
        "clientUser": hashlib.sha256(("u" * 32 + "pepper").encode()).hexdigest(),
        "type": "feature.export",
        "sessionID": event.session_id,
        "isTestMode": True,
        "receivedAt": "2023-11-14T22:13:20.250Z",
        "payload": {"App.format": "pdf", "floatValue": 3.5},
    }
    assert CTX.user_identifier not in req.body.decode()
    assert CTX.license_key not in req.body.decode() and CTX.api_key not in req.body.decode()


def test_telemetrydeck_signal_keys_are_in_the_documents_tables():
    doc = telemetrydeck_doc()
    required = {p["name"] for p in doc["required_properties"]}
    allowed = required | {p["name"] for p in doc["optional_properties"]} | {"receivedAt"}
    event = make_event("feature.export", kind="text", value="x", payload={"App.format": "pdf"})
    (signal,) = json.loads(td().prepare([event], CTX)[0].body)
    assert required <= set(signal) <= allowed
    assert set(doc["reserved_payload_keys"]) == set(TELEMETRYDECK_RESERVED)


def test_client_user_is_lowercase_hex_sha256():
    assert re.fullmatch(r"[0-9a-f]{64}", client_user("someone", "salt"))
    assert client_user("someone", "salt") != client_user("someone", "other")


def test_telemetrydeck_batches_of_at_most_100():
    events = [make_event("feature.x", kind="number", value=i) for i in range(250)]
    reqs = td().prepare(events, CTX)
    assert [len(json.loads(r.body)) for r in reqs] == [100, 100, 50]
    assert [e for r in reqs for e in r.event_ids] == [e.id for e in events]
    assert MAX_SIGNALS == 100


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["number", "xy", "text"]),
            st.floats(allow_nan=False, allow_infinity=False),
            st.dictionaries(
                st.from_regex(r"\A[A-Z][a-z]{1,5}\.[a-z]{1,6}\Z"),
                st.one_of(st.booleans(), st.integers(-(2**53), 2**53),
                          st.floats(allow_nan=False, allow_infinity=False),
                          st.text(st.characters(exclude_categories=("Cs", "Cc", "Cf")), max_size=20)),
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=120,
    )
)
@settings(max_examples=40, deadline=None)
def test_telemetrydeck_body_is_always_a_flat_spec_array(items):
    events = [
        make_event("feature.any", kind=kind, value={"number": v, "xy": (v, v), "text": "t"}[kind],
                   payload=payload)
        for kind, v, payload in items
    ]
    for req in td().prepare(events, CTX):
        body = json.loads(req.body.decode("utf-8"))
        assert isinstance(body, list) and 1 <= len(body) <= 100
        for signal in body:
            assert {"appID", "clientUser", "type"} <= set(signal)
            assert isinstance(signal["isTestMode"], bool)
            for key, value in signal["payload"].items():
                assert key not in TELEMETRYDECK_RESERVED and not key.startswith("TelemetryDeck.")
                assert isinstance(value, str | int | float | bool)
            if "floatValue" in signal["payload"]:
                assert isinstance(signal["payload"]["floatValue"], float)


@pytest.mark.parametrize(
    "response,verdict",
    [
        (HttpResponse(200, b"ok"), Verdict.DELIVERED),
        (HttpResponse(202, b""), Verdict.DELIVERED),
        (HttpResponse(200, b"<!DOCTYPE html><html>portal</html>"), Verdict.RETRY),
        (HttpResponse(400, b"bad body"), Verdict.REJECTED),
        (HttpResponse(401, b""), Verdict.BLOCKED),
        (HttpResponse(403, b""), Verdict.BLOCKED),
        (HttpResponse(404, b""), Verdict.BLOCKED),
        (HttpResponse(422, b""), Verdict.REJECTED),
        (HttpResponse(413, b""), Verdict.SPLIT),
        (HttpResponse(408, b""), Verdict.RETRY),
        (HttpResponse(429, b"", {"retry-after": "12"}), Verdict.RETRY),
        (HttpResponse(500, b""), Verdict.RETRY),
        (HttpResponse(503, b""), Verdict.RETRY),
    ],
)
def test_telemetrydeck_response_table(response, verdict):
    outcome = td().interpret(None, response)
    assert outcome.verdict is verdict
    if response.status == 429:
        assert outcome.retry_after == 12


# --- KeyManager license requests (verify / activate / deactivate) -------------------------


@pytest.mark.parametrize(
    ("action", "code", "verdict"),
    [("verify", 200, Verdict.DELIVERED), ("verify", 202, Verdict.REJECTED),
     ("activate", 301, Verdict.DELIVERED), ("activate", 302, Verdict.REJECTED),
     ("deactivate", "400", Verdict.DELIVERED), ("deactivate", 401, Verdict.DELIVERED),
     ("verify", 300, Verdict.RETRY)],  # another endpoint's code is no answer about this one
)
def test_license_answers_carry_the_servers_own_message(key, pem, action, code, verdict):
    api = KeyManagerLicense("https://keys.example.com", CTX.api_key, pem)
    inner = {"code": code, "message": "The selected license key is invalid."}
    answer = api.interpret(action, HttpResponse(200, envelope(inner, key)))
    assert answer.outcome.verdict is verdict
    assert answer.message == "The selected license key is invalid."
    assert answer.outcome.signature is SignatureStatus.VALID


def test_a_license_answer_that_is_not_trusted_has_no_message(key, pem):
    api = KeyManagerLicense("https://keys.example.com", CTX.api_key, pem)
    forged = envelope({"code": 200, "message": "License key is valid"}, signature="AAAA")
    answer = api.interpret("verify", HttpResponse(200, forged))
    assert answer.outcome.signature is SignatureStatus.INVALID and answer.message == ""
    refused = api.interpret("verify", HttpResponse(401, envelope({"code": 100,
                                                                  "message": "bad key"}, key)))
    assert refused.outcome.verdict is Verdict.BLOCKED and refused.outcome.code == 100


def test_license_requests_carry_the_three_fields_in_order():
    api = KeyManagerLicense("https://keys.example.com/", CTX.api_key)
    request = api.prepare("verify", CTX.license_key, CTX.activation_identifier)
    assert request.url == "https://keys.example.com/api/v1/verify"
    assert request.header("accept") == "application/json"
    assert parse_qsl(request.body.decode()) == [
        ("api_key", CTX.api_key), ("license_key", CTX.license_key),
        ("identifier", CTX.activation_identifier)]
