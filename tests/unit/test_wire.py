"""PreparedRequest.masked: the one masking the preview shows and the history keeps."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.backends.keymanager import KeyManagerBackend, KeyManagerLicense
from app.backends.telemetrydeck import TelemetryDeckBackend
from app.delivery.send_state import scrubbed as _scrubbed
from app.model.event import make_event
from app.model.wire import Outcome, PreparedRequest, SendContext, Verdict, mask_secret, scrub_secrets

CTX = SendContext(
    user_identifier="u" * 32,
    activation_identifier="a" * 32,
    license_key="9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
    api_key="2964c3c9-0b5d-4d89-b3ac-4668f30bc492",
)
EVENTS = [
    make_event("feature.export", kind="number", value=50),
    make_event("diag.note", kind="text", value="9cc2cc83 is part of the text, not the key"),
    make_event("perf.curve", kind="xy", value=(1.5, -2)),
]


def test_masking_a_keymanager_request_is_preparing_it_with_the_masked_context():
    backend = KeyManagerBackend("https://keys.example.com", "7", "1.2.3")
    sent = backend.prepare(EVENTS, CTX)
    assert [r.masked(CTX.secrets) for r in sent] == backend.prepare(EVENTS, CTX.masked())
    fields = dict(parse_qsl(sent[0].masked(CTX.secrets).body.decode()))
    assert fields["license_key"] == "9cc2…1541" and fields["api_key"] == "2964…c492"


def test_only_whole_values_are_masked_never_a_piece_of_another():
    short = SendContext("u" * 32, "a" * 32, license_key="50", api_key="")
    backend = KeyManagerBackend("https://k.example", "7", "1")
    number, text, same = backend.prepare([
        make_event("feature.export", kind="number", value=150),
        make_event("diag.note", kind="text", value="50 apples"),
        make_event("diag.note", kind="text", value="50"),  # shown, it would show the key
    ], short)
    shown = [dict(parse_qsl(r.masked(short.secrets).body.decode())) for r in (number, text, same)]
    assert {f["license_key"] for f in shown} == {"•" * 8}  # a short key shows nothing
    assert shown[0]["numeric_data_single_value"] == "150"
    assert shown[1]["text_data"] == "50 apples"
    assert shown[2]["text_data"] == "•" * 8


def test_a_request_without_secrets_is_unchanged():
    (request,) = TelemetryDeckBackend("https://nom.example/v2/", "APP", "salt").prepare(EVENTS, CTX)
    assert request.masked(CTX.secrets) is request or request.masked(CTX.secrets) == request
    assert request.masked(()) is request


def test_json_strings_are_masked_however_they_were_escaped():
    secret = "clé-9cc2cc83-4c74-49f9"
    for ascii_only in (False, True):
        body = json.dumps({"key": secret, "note": f"{secret}!"}, ensure_ascii=ascii_only)
        request = PreparedRequest("x", "POST", "https://x.example", (("Content-Type",
                                  "application/json"),), body.encode())
        shown = json.loads(request.masked({secret}).body)
        assert shown == {"key": mask_secret(secret), "note": f"{secret}!"}


def test_a_secret_in_a_header_or_an_unknown_body_is_masked_too():
    secret = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
    request = PreparedRequest("x", "POST", "https://x.example",
                              (("Authorization", secret), ("Content-Type", "text/plain")),
                              f"key {secret}".encode())
    shown = request.masked({secret})
    assert shown.header("authorization") == "2964…c492"
    assert shown.body == "key 2964…c492".encode()


def test_the_license_requests_mask_the_same_way():
    api = KeyManagerLicense("https://keys.example.com/", CTX.api_key)
    request = api.prepare("activate", CTX.license_key, CTX.activation_identifier)
    assert request.url == "https://keys.example.com/api/v1/activate"
    assert dict(parse_qsl(request.masked(CTX.secrets).body.decode())) == {
        "api_key": "2964…c492", "license_key": "9cc2…1541", "identifier": "a" * 32}


@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=60))
def test_no_secret_survives_masking_of_a_form_body(license_key, api_key):
    ctx = SendContext("u" * 32, "a" * 32, license_key=license_key, api_key=api_key)
    backend = KeyManagerBackend("https://k.example", "7", "1")
    (request,) = backend.prepare(EVENTS[:1], ctx)
    fields = dict(parse_qsl(request.masked(ctx.secrets).body.decode(), keep_blank_values=True))
    assert fields["license_key"] == mask_secret(license_key)
    assert fields["api_key"] == mask_secret(api_key)


def test_the_stored_form_round_trips_and_refuses_garbage():
    (request,) = KeyManagerBackend("https://k.example", "7", "1").prepare(EVENTS[1:2], CTX)
    assert PreparedRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    with pytest.raises(ValueError, match="not a stored request"):
        PreparedRequest.from_dict({"backend": "x"})

ECHOED_KEY = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
ECHOED_API = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"


def test_every_secret_in_a_text_is_masked():
    text = f"license {ECHOED_KEY} is not valid for api key {ECHOED_API}; again: {ECHOED_KEY}"
    scrubbed = scrub_secrets(text, {ECHOED_KEY, ECHOED_API, ""})
    assert ECHOED_KEY not in scrubbed and ECHOED_API not in scrubbed
    assert scrubbed.count(mask_secret(ECHOED_KEY)) == 2 and mask_secret(ECHOED_API) in scrubbed


def test_the_outcome_the_history_keeps_has_no_echoed_key():
    outcome = Outcome(Verdict.REJECTED, f"invalid key {ECHOED_KEY}",
                      errors={"license_key": [f"{ECHOED_KEY} is unknown"], "code": 100})
    kept = _scrubbed(outcome, {ECHOED_KEY})
    assert ECHOED_KEY not in repr(kept.message) + repr(kept.errors)
    assert kept.errors["code"] == 100 and kept.verdict is Verdict.REJECTED
