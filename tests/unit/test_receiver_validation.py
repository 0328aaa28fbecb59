"""The receiver's pure parts: envelopes, the spec's examples, and field validation (no sockets)."""

from __future__ import annotations

import base64
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.backends.keymanager import format_number
from app.backends.signature import verify_envelope
from app.model.wire import SignatureStatus
from app.receiver import (
    TD_OPTIONAL,
    TD_REQUIRED,
    TD_RESERVED_PAYLOAD_KEYS,
    KeyManagerReceiver,
    TelemetryDeckReceiver,
    Validation,
    _strict_json,
    generate_private_key,
    make_envelope,
    public_key_pem,
    stored_signal,
)
from tests.fixtures import keymanager_examples, telemetrydeck_doc

SPEC_831, SPEC_830 = keymanager_examples()
SPEC_831_BASE64 = SPEC_831["response_base64"]
SPEC_830_BASE64 = SPEC_830["response_base64"]


@pytest.fixture(scope="module")
def key():
    return generate_private_key()


@pytest.fixture(scope="module")
def km(key):
    # Never started: only its validation methods are used.
    return KeyManagerReceiver(private_key=key, product_ids={"1"})


@pytest.fixture()
def td():
    return TelemetryDeckReceiver()


def test_spec_examples_response_base64_decode_to_831_and_830():
    decoded = [json.loads(base64.b64decode(b, validate=True))
               for b in (SPEC_831_BASE64, SPEC_830_BASE64)]
    assert [d["code"] for d in decoded] == [831, 830]
    assert decoded[0]["message"] == "Incorrect format data saved"
    assert decoded[1] == {"code": 830, "message": "Correct format data saved", "errors": [],
                          "timestamp": 1708999140}


def test_document_examples_plain_copy_matches_the_signed_one():
    envelopes = [SPEC_831, SPEC_830]
    decoded = [json.loads(base64.b64decode(e["response_base64"], validate=True)) for e in envelopes]
    assert [d["code"] for d in decoded] == [831, 830]
    # The plain copy matches the signed one in both examples.
    assert [e["response"] for e in envelopes] == decoded
    assert "user_identifier" in decoded[0]["errors"]
    assert decoded[1]["errors"] == []
    assert [e["private_key_used"] for e in envelopes] == ["global", "global"]


def test_the_receivers_tables_are_the_documents(td):
    doc = telemetrydeck_doc()
    assert TD_REQUIRED == tuple(p["name"] for p in doc["required_properties"])
    assert set(TD_OPTIONAL) == {p["name"] for p in doc["optional_properties"]} | {"receivedAt"}
    assert set(TD_RESERVED_PAYLOAD_KEYS) == set(doc["reserved_payload_keys"])
    assert check_signal(td, doc["example_signal"]).ok
    for signal in doc["example_body"]:
        assert check_signal(td, signal).ok


def test_our_831_messages_match_the_spec_wording(km):
    expected = json.loads(base64.b64decode(SPEC_831_BASE64))["errors"]
    validation = Validation()
    km.validate_telemetry({"api_key": "k", "product_id": "999"}, validation)
    assert validation.errors == expected
    # Same fields, same order as the example.
    assert list(validation.errors) == list(expected)


def test_make_envelope_is_signed_over_response_base64(key):
    envelope = make_envelope({"code": 830, "message": "ok", "errors": [], "timestamp": 1}, key)
    pem = public_key_pem(key)
    assert verify_envelope(envelope["response_base64"], envelope["signature"], pem) is (
        SignatureStatus.VALID
    )
    assert json.loads(base64.b64decode(envelope["response_base64"])) == envelope["response"]
    assert envelope["private_key_used"] == "product"
    # Compact JSON, as the spec's examples are.
    assert b" " not in base64.b64decode(envelope["response_base64"])


def test_make_envelope_signature_override(key):
    envelope = make_envelope({"code": 830}, key, signature="Private key not set")
    assert verify_envelope(envelope["response_base64"], envelope["signature"],
                           public_key_pem(key)) is SignatureStatus.UNSIGNED


def valid_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "api_key": "k",
        "data_type": "numeric-single-value",
        "numeric_data_single_value": "50",
        "product_id": "1",
        "user_identifier": "u1",
        "license_key": "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
        "activation_identifier": "12135644",
        "product_version": "1.0.1",
        "data_group": "test_group",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def check(km, fields):
    validation = Validation()
    km.validate_telemetry(fields, validation)
    return validation


def test_valid_single_value(km):
    validation = check(km, valid_fields())
    assert validation.ok, validation.errors


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"data_type": "numeric-xy-axis", "numeric_data_single_value": None,
          "numeric_data_x": "1"}, "numeric_data_y",
         "The numeric data y field is required when data type is numeric-xy-axis."),
        ({"data_type": "text", "numeric_data_single_value": None}, "text_data",
         "The text data field is required when data type is text."),
        ({"numeric_data_single_value": "fifty"}, "numeric_data_single_value",
         "The numeric data single value field must be a number."),
        ({"numeric_data_single_value": "nan"}, "numeric_data_single_value",
         "The numeric data single value field must be a number."),
        ({"numeric_data_single_value": "0x1A"}, "numeric_data_single_value",
         "The numeric data single value field must be a number."),
        ({"data_type": "number"}, "data_type", "The selected data type is invalid."),
        ({"product_id": "2"}, "product_id", "The selected product id is invalid."),
        ({"license_key": ""}, "license_key", "The license key field is required."),
        ({"license_key": "   "}, "license_key", "The license key field is required."),
        ({"data_group": None}, "data_group", "The data group field is required."),
        ({"product_version": None}, "product_version", "The product version field is required."),
    ],
)
def test_invalid_fields(km, overrides, field, message):
    validation = check(km, valid_fields(**overrides))
    assert not validation.ok
    assert validation.errors[field] == [message]


def test_valid_xy_and_text(km):
    xy = valid_fields(data_type="numeric-xy-axis", numeric_data_single_value=None,
                      numeric_data_x="-1.5", numeric_data_y="2e3")
    text = valid_fields(data_type="text", numeric_data_single_value=None, text_data="hello")
    assert check(km, xy).ok
    assert check(km, text).ok


def test_extra_fields_are_noted_not_rejected(km):
    validation = check(km, valid_fields(hostname="pc-1"))
    assert validation.ok
    assert any("hostname" in note for note in validation.notes)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_number_the_backend_formats_is_numeric_to_the_receiver(value):
    km = KeyManagerReceiver.__new__(KeyManagerReceiver)  # validation only; no key, no socket
    km.product_ids = None
    km.check_license_keys = False
    validation = Validation()
    km.validate_telemetry(valid_fields(numeric_data_single_value=format_number(value)), validation)
    assert validation.ok, (format_number(value), validation.errors)


def good_signal(**overrides):
    signal = {"appID": "AAAA-BBBBBBBB-CCCC-DDDD", "clientUser": "hash", "type": "App.launched",
              "sessionID": "s", "isTestMode": False,
              "payload": {"TelemetryDeck.RunContext.locale": "en_US", "floatValue": 3.14159}}
    signal.update(overrides)
    return {k: v for k, v in signal.items() if v is not None}


def check_signal(td, signal):
    validation = Validation()
    td.validate_signal(0, signal, validation)
    return validation


def test_good_signal_and_minimal_signal(td):
    assert check_signal(td, good_signal()).ok
    minimal = {"appID": "a", "clientUser": "b", "type": "c"}
    assert check_signal(td, minimal).ok
    assert check_signal(td, good_signal(receivedAt="2026-11-23T16:09:50.123Z")).ok


@pytest.mark.parametrize(
    ("signal", "key"),
    [
        (good_signal(appID=None), "signal[0].appID"),
        (good_signal(clientUser=42), "signal[0].clientUser"),
        (good_signal(type=""), "signal[0].type"),
        (good_signal(sessionID=1), "signal[0].sessionID"),
        (good_signal(isTestMode="false"), "signal[0].isTestMode"),
        (good_signal(payload=[1]), "signal[0].payload"),
        (good_signal(payload={"A.b": {"c": 1}}), "signal[0].payload.A.b"),
        (good_signal(payload={"A.b": ["x"]}), "signal[0].payload.A.b"),
        (good_signal(payload={"floatValue": "3.1"}), "signal[0].payload.floatValue"),
        (good_signal(payload={"floatValue": True}), "signal[0].payload.floatValue"),
        (good_signal(receivedAt="yesterday"), "signal[0].receivedAt"),
        (good_signal(receivedAt=1700000000), "signal[0].receivedAt"),
        (good_signal(platform="linux"), "signal[0].platform"),
        ("not an object", "signal[0]"),
    ],
)
def test_bad_signals(td, signal, key):
    validation = check_signal(td, signal)
    assert not validation.ok
    assert key in validation.errors, validation.errors


@pytest.mark.parametrize("key", sorted(TD_RESERVED_PAYLOAD_KEYS))
def test_reserved_payload_keys_are_stored_with_an_underscore_not_refused(td, key):
    signal = good_signal(payload={key: "x", "App.kept": 1})
    validation = check_signal(td, signal)
    assert validation.ok, validation.errors
    assert validation.notes == [f"signal[0].payload.{key}: reserved key, stored as _{key}"]
    assert stored_signal(signal)["payload"] == {f"_{key}": "x", "App.kept": 1}
    assert signal["payload"] == {key: "x", "App.kept": 1}  # the record keeps what was sent


def test_a_reserved_key_with_a_nested_value_is_still_refused(td):
    validation = check_signal(td, good_signal(payload={"count": {"n": 1}}))
    assert validation.errors == {
        "signal[0].payload.count": ["must be a primitive (no nested objects or arrays)"]
    }


@pytest.mark.parametrize(
    "raw",
    [b'[{"a": 1, "a": 2}]', b"[NaN]", b"[Infinity]", b"\xef\xbb\xbf[]", b"[1,]", b"\xff"],
)
def test_strict_json_refuses(raw):
    with pytest.raises((ValueError, UnicodeDecodeError)):
        _strict_json(raw)


def test_strict_json_accepts_plain_json():
    assert _strict_json('[{"x": 1.5, "y": "é"}]'.encode()) == [{"x": 1.5, "y": "é"}]
    assert math.isclose(_strict_json(b"[1e3]")[0], 1000.0)
