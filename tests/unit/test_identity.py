"""The identity guarantees that do not need another process (see tests/e2e for those)."""

from __future__ import annotations

import re

import pytest

from app.core.identity import (
    GENERATED_NAME,
    derive_identity,
    read_machine_id,
)

MACHINE = "3d1219c7c4c5404aaa1f6d2a48adfda4"


class DictStore:
    """Stands in for the keyring in the pure tests; the keyring version is in integration."""

    where = "a test dict"

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def set(self, name: str, value: str) -> None:
        self.writes += 1
        self.values[name] = value


def test_same_inputs_same_identifiers():
    a = derive_identity("42", MACHINE, "alice")
    b = derive_identity("42", MACHINE, "alice")
    assert (a.user_identifier, a.activation_identifier) == (b.user_identifier, b.activation_identifier)
    assert re.fullmatch(r"[0-9a-f]{32}", a.user_identifier)


def test_other_user_other_product_other_machine_differ():
    base = derive_identity("42", MACHINE, "alice")
    others = [
        derive_identity("42", MACHINE, "bob"),
        derive_identity("43", MACHINE, "alice"),
        derive_identity("42", "ffffffffffffffffffffffffffffffff", "alice"),
    ]
    for other in others:
        assert other.user_identifier != base.user_identifier
        assert other.activation_identifier != base.activation_identifier


def test_user_and_activation_ids_are_separately_keyed():
    ident = derive_identity("42", MACHINE, "alice")
    assert ident.user_identifier != ident.activation_identifier


def test_identifiers_reveal_neither_machine_id_nor_user():
    ident = derive_identity("42", MACHINE, "alice")
    for value in (ident.user_identifier, ident.activation_identifier):
        assert MACHINE[:8] not in value and "alice" not in value
    assert "alice" not in repr(ident)


def test_no_machine_id_generates_one_once_and_keeps_it():
    store = DictStore()
    first = derive_identity("42", secret_store=store, reader=lambda: None, os_user="alice")
    second = derive_identity("42", secret_store=store, reader=lambda: None, os_user="alice")
    assert store.writes == 1
    assert first.user_identifier == second.user_identifier
    assert "generated once" in first.machine_id_source and "a test dict" in first.machine_id_source
    # a fresh store (another machine) gives another identity
    other = derive_identity("42", secret_store=DictStore(), reader=lambda: None, os_user="alice")
    assert other.user_identifier != first.user_identifier
    assert store.values[GENERATED_NAME] not in first.user_identifier


def test_this_machine_id_is_read_and_its_source_recorded():
    found = read_machine_id()
    if found is None:
        pytest.skip("this machine has no readable machine id (the keyring path is tested in "
                    "tests/integration/test_license_keyring.py)")
    ident = derive_identity("42")
    assert ident.machine_id_source == found[1]
    assert ident.os_user_source


def test_a_reset_salt_gives_a_new_user_identifier_and_keeps_the_seat():
    from app.core.identity import reset_identity

    first = derive_identity("42", MACHINE, "alice")
    reset = derive_identity("42", MACHINE, "alice", salt="a" * 32)
    assert reset == derive_identity("42", MACHINE, "alice", salt="a" * 32)  # pure
    assert reset.user_identifier != first.user_identifier
    assert len(reset.user_identifier) == 32 and re.fullmatch("[0-9a-f]{32}", reset.user_identifier)
    assert reset.activation_identifier == first.activation_identifier  # the license's seat
    assert derive_identity("42", MACHINE, "alice", salt="b" * 32).user_identifier not in (
        first.user_identifier, reset.user_identifier)
    assert reset_identity(first, "") == first  # never reset: the identifier as first derived
    assert derive_identity("43", MACHINE, "alice", salt="a" * 32).user_identifier != \
        reset.user_identifier
