"""Key normalisation (the model's rules) and the keyring boundary's messages, without a keyring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.model.errors import KeyringUnavailableError, ValidationError
from app.model.license_key import MAX_KEY_LENGTH, normalise_key
from app.storage.keyring.access import fix_hint
from app.storage.keyring.license_store import LicenseStore

UUID_KEY = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (UUID_KEY, UUID_KEY),
        ("  9CC2CC83-4C74-49F9-98F5-F0E1C1EB1541\n", UUID_KEY),  # UUIDs are case-insensitive
        ("9cc2cc83-4c74-\n49f9-98f5-\r\nf0e1c1eb1541", UUID_KEY),  # wrapped in an e-mail
        ("\ufeff9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541\u200b", UUID_KEY),  # paste artefacts
        ("ABCDEF0123456789ABCDEF", "abcdef0123456789abcdef"),  # hex: case-insensitive
        ("XK7P-99QZ-ab12", "XK7P-99QZ-ab12"),  # unknown format: case kept, not refused
        ("Mäx_Lizenz/2026+key==", "Mäx_Lizenz/2026+key=="),  # base64-ish, non-ASCII: kept
    ],
)
def test_normalise_keeps_the_key_and_cleans_pasting(raw, expected):
    assert normalise_key(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        (" \n\t ", "empty"),
        ("abc\x00def", "control characters"),
        ("abc\x1bdef", "control characters"),
        ("a" * (MAX_KEY_LENGTH + 1), "at most 512"),
        ("----////", "no letters or digits"),
    ],
)
def test_obvious_garbage_is_refused_with_what_a_key_looks_like(raw, why):
    with pytest.raises(ValidationError) as info:
        normalise_key(raw)
    message = str(info.value)
    assert why in message
    assert "letters and digits" in message and "9cc2cc83-" in message


@given(st.text(min_size=6, max_size=600))
def test_a_refusal_never_repeats_the_input(raw):
    try:
        normalise_key(raw)
    except ValidationError as exc:
        cleaned = "".join(raw.split())
        if len(cleaned) >= 6:
            assert cleaned not in str(exc)
            assert cleaned not in repr(exc)


def test_service_names_never_collide_between_products():
    a = LicenseStore.service_name("1", "Photo Tool")
    b = LicenseStore.service_name("2", "Photo Tool")
    c = LicenseStore.service_name("", "Photo Tool")
    assert a == "license-companion:1"
    assert len({a, b, c}) == 3
    assert c == "license-companion:photo-tool"


@pytest.mark.parametrize(
    ("platform", "words"),
    [("linux", "gnome-keyring"), ("win32", "Credential Manager"), ("darwin", "Keychain")],
)
def test_fix_hint_names_the_os_specific_fix(platform, words):
    assert words in fix_hint(platform)


@pytest.mark.timeout(30)
def test_no_keyring_is_a_clear_error_never_a_plaintext_fallback(monkeypatch):
    import keyring
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        store = LicenseStore("license-companion:unit-test", timeout=5)
        with pytest.raises(KeyringUnavailableError) as info:
            store.set(UUID_KEY)
        message = str(info.value)
        assert "no OS keyring" in message and "fail Keyring" in message
        assert UUID_KEY not in message
        assert "keyrings.alt" not in message  # keyring's own text recommends plaintext files
        assert info.value.__cause__ is None and info.value.__context__ is None
        with pytest.raises(KeyringUnavailableError):
            store.get()
    finally:
        keyring.set_keyring(previous)
