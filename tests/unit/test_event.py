"""The event validator: every bad input names its field, every good one round-trips."""

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

names = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")
    ),
    min_size=1,
    max_size=60,
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
primitives = st.one_of(
    st.booleans(),
    st.integers(-(2**53), 2**53),
    finite,
    st.text(max_size=50).filter(lambda s: "\x00" not in s),
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
