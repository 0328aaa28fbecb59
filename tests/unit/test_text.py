"""``printable``: what a server, a config file or an event says is shown, never obeyed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.model.text import BIDI_CONTROLS, printable


def test_a_terminal_escape_from_a_server_is_spelled_out():
    body = "\x1b]0;PWNED\x07\x1b[2J"
    assert printable(body) == "\\x1b]0;PWNED\\x07\\x1b[2J"


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x00", "\\x00"), ("\r", "\\x0d"), ("\x7f", "\\x7f"), ("\x9b", "\\x9b"), ("\x85", "\\x85"),
    ("\u202e", "\\u202e"), ("\u2066", "\\u2066"), ("\u2069", "\\u2069"), ("\u2028", "\\u2028"),
    ("\udcff", "\\udcff"), ("\n", "\\x0a"), ("\t", "\\x09"),
])
def test_each_unsafe_class_is_escaped(raw, shown):
    assert printable(f"a{raw}b") == f"a{shown}b"


def test_newlines_and_tabs_can_be_kept_for_multi_line_text():
    assert printable("one\n\ttwo\x1b", keep_newlines=True) == "one\n\ttwo\\x1b"


def test_ordinary_text_is_returned_unchanged():
    text = "HTTP 400: Ungültige Eingabe — 日本語 👩‍💻 C:\\Users\\me"
    assert printable(text) is text


def test_non_text_is_converted_first():
    assert printable(ValueError("bad\x1b")) == "bad\\x1b"
    assert printable(42) == "42"


@given(st.text())
def test_the_result_is_always_safe_to_print(text):
    shown = printable(text)
    shown.encode("utf-8")  # no lone surrogate left
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in BIDI_CONTROLS
                   or c in "\u2028\u2029" for c in shown)
    if all(c.isprintable() for c in text):
        assert shown == text
