"""The event validator: every bad input names its field, every good one round-trips."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.model.errors import ValidationError
from app.model.event import (
    MAX_NAME,
    MAX_TEXT,
    TELEMETRYDECK_RESERVED,
    Event,
    make_event,
)
from app.model.text import BIDI_CONTROLS, is_unsafe

names = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF,
        exclude_categories=("Cs", "Cc", "Cf", "Cn", "Co", "Zs", "Zl", "Zp"),
    ),
    min_size=1,
    max_size=60,
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
primitives = st.one_of(
    st.booleans(),
    st.integers(-(2**53), 2**53),
    finite,
    st.text(st.characters(exclude_categories=("Cs", "Cc"),
                          exclude_characters=sorted(BIDI_CONTROLS)), max_size=50),
)
payload_keys = st.from_regex(r"\A[A-Z][a-z]{1,8}\.[a-z][a-zA-Z]{0,10}\Z")


@given(names, finite, st.dictionaries(payload_keys, primitives, max_size=5))
def test_valid_number_events_round_trip(name, value, payload):
    event = make_event(name, kind="number", value=value, payload=payload)
    again = Event.from_dict(event.to_dict())
    assert again == event
    assert again.value == value


@given(names, finite, finite)
def test_xy_round_trips(name, x, y):
    event = make_event(name, kind="xy", value=[x, y])
    assert event.value == (x, y)
    assert Event.from_dict(event.to_dict()) == event


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValidationError) as err:
        make_event("perf.load", kind="number", value=bad)
    assert err.value.field == "value"
    with pytest.raises(ValidationError) as err:
        make_event("perf.load", kind="xy", value=(1, bad))
    assert err.value.field == "value.y"


@pytest.mark.parametrize("name", ["", "   ", " padded", "tab\there", "x" * (MAX_NAME + 1), 5, None])
def test_bad_names_are_refused(name):
    with pytest.raises(ValidationError) as err:
        make_event(name, kind="number", value=1)
    assert err.value.field == "name"


def test_text_limits():
    make_event("feature.note", kind="text", value="x" * MAX_TEXT)
    with pytest.raises(ValidationError, match="limit is 4096"):
        make_event("feature.note", kind="text", value="x" * (MAX_TEXT + 1))
    with pytest.raises(ValidationError) as err:
        make_event("feature.note", kind="text", value="")
    assert err.value.field == "value"


@pytest.mark.parametrize("value", [True, "3", None, [1, 2]])
def test_number_must_be_a_number(value):
    with pytest.raises(ValidationError):
        make_event("perf.load", kind="number", value=value)


@pytest.mark.parametrize("value", [(1,), (1, 2, 3), "ab", 5])
def test_xy_needs_exactly_two_numbers(value):
    with pytest.raises(ValidationError) as err:
        make_event("perf.curve", kind="xy", value=value)
    assert err.value.field.startswith("value")


def test_unknown_kind():
    with pytest.raises(ValidationError) as err:
        make_event("perf.load", kind="histogram", value=1)
    assert err.value.field == "kind"


@pytest.mark.parametrize("key", [*sorted(TELEMETRYDECK_RESERVED), "TelemetryDeck.Device.model"])
def test_reserved_payload_keys_are_refused(key):
    with pytest.raises(ValidationError) as err:
        make_event("feature.open", kind="number", value=1, payload={key: "x"})
    assert err.value.field == f"payload.{key}"
    assert "reserved" in str(err.value)


@pytest.mark.parametrize(
    "value", [{"nested": 1}, [1, 2], None, math.nan, b"bytes", object()]
)
def test_payload_values_must_be_flat_primitives(value):
    with pytest.raises(ValidationError) as err:
        make_event("feature.open", kind="number", value=1, payload={"App.detail": value})
    assert err.value.field == "payload.App.detail"


def test_payload_cannot_override_the_value_fields():
    with pytest.raises(ValidationError, match="written from the event's value"):
        make_event("feature.open", kind="number", value=1, payload={"floatValue": 2.0})


@given(
    st.text(min_size=1, max_size=30),
    st.one_of(
        st.none(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.integers(), min_size=1),
    ),
)
def test_payload_with_non_primitive_never_validates(key, value):
    with pytest.raises(ValidationError):
        make_event("feature.open", kind="number", value=1, payload={key: value})


# --- characters, field by field -------------------------------------------------------------

C0_BUT_TAB_NEWLINE = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
C1_AND_DEL = [chr(c) for c in range(0x7F, 0xA0)]
LONE_SURROGATES = ["\udcff", "\ud800", "\udfff"]  # "\udcff" is how argv carries the byte 0xFF


@pytest.mark.parametrize("ch", ["\t", "\n", "\x1b", "\x7f", "\x85", "\x9b", "\u202e", "\u2066",
                                "\u200b", "\xa0", "\udcff"])
def test_names_are_printable_only(ch):
    with pytest.raises(ValidationError) as err:
        make_event(f"feature.a{ch}b", kind="number", value=1)
    assert err.value.field == "name"
    assert f"U+{ord(ch):04X}" in str(err.value)
    assert "position 9" in str(err.value)


@pytest.mark.parametrize("ch", C0_BUT_TAB_NEWLINE + C1_AND_DEL + sorted(BIDI_CONTROLS)
                         + LONE_SURROGATES)
def test_text_values_refuse_controls_bidi_overrides_and_surrogates(ch):
    with pytest.raises(ValidationError) as err:
        make_event("feature.note", kind="text", value=f"ok{ch}")
    assert err.value.field == "value"
    with pytest.raises(ValidationError) as err:
        make_event("feature.note", kind="number", value=1, payload={"App.note": f"ok{ch}"})
    assert err.value.field == "payload.App.note"


def test_text_values_keep_tab_newline_and_any_script():
    text = "line one\n\tline two: Grüße, 日本語, العربية, emoji 👩‍💻 (with a joiner)"
    event = make_event("feature.note", kind="text", value=text, payload={"App.note": text})
    assert event.value == text and event.payload["App.note"] == text


@pytest.mark.parametrize("key", ["App.\x1b[2J", "App.\u202eexe", "App.\x85", "App.\udcff",
                                 "App.a\tb"])
def test_payload_keys_are_printable_only_and_named_escaped(key):
    with pytest.raises(ValidationError) as err:
        make_event("feature.open", kind="number", value=1, payload={key: 1})
    assert err.value.field.startswith("payload.App.")
    # The field name is shown to the user: the control character in it is spelled out.
    assert err.value.field.isprintable()
    assert str(err.value).isprintable()


@pytest.mark.parametrize("session", ["s\x1b", "s\u202e", "s\udcff", "s\x7f", "s\n"])
def test_session_ids_are_printable_only(session):
    with pytest.raises(ValidationError) as err:
        make_event("feature.open", kind="number", value=1, session_id=session)
    assert err.value.field == "session_id"


def test_messages_never_carry_the_bad_character():
    for bad in ["\x1b]0;PWNED\x07", "\u202e", "\udcff"]:
        for kwargs in ({"kind": "text", "value": bad}, {"kind": "number", "value": 1,
                                                        "payload": {"App.x": bad}}):
            with pytest.raises(ValidationError) as err:
                make_event("feature.x", **kwargs)
            assert str(err.value).isprintable()
            str(err.value).encode("utf-8")  # a lone surrogate would fail here


any_text = st.text(st.characters(), max_size=40)


@given(any_text, any_text, st.dictionaries(any_text, st.one_of(any_text, st.integers()),
                                           max_size=3), any_text)
def test_make_event_accepts_only_what_the_rules_allow(name, text, payload, session):
    """Whatever the code points: a clean Event or a ValidationError, never anything else."""
    try:
        event = make_event(name, kind="text", value=text, payload=payload, session_id=session)
    except ValidationError as exc:
        assert not any(is_unsafe(c) for c in str(exc))  # safe to show, whatever the input
        return
    assert event.name.isprintable()
    assert event.session_id.isprintable()
    for part in [event.value, *(v for v in event.payload.values() if isinstance(v, str))]:
        assert not any(ord(c) < 32 and c not in "\t\n" for c in part)
        assert not any(0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF
                       or c in BIDI_CONTROLS for c in part)
    assert all(k.isprintable() for k in event.payload)
    assert Event.from_dict(event.to_dict()) == event
    json.dumps(event.to_dict(), ensure_ascii=False).encode("utf-8")


def test_ids_are_version_4_uuids_in_both_spellings():
    import uuid

    from app.model.ids import uuid4_hex, uuid4_text

    seen = set()
    for _ in range(500):
        for text in (uuid4_hex(), uuid4_text()):
            parsed = uuid.UUID(text)
            assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
            assert text in (parsed.hex, str(parsed))
            seen.add(parsed)
    assert len(seen) == 1000  # random, never repeated
    event = make_event("feature.x", kind="number", value=1)
    assert uuid.UUID(event.id).hex == event.id and uuid.UUID(event.session_id).version == 4
