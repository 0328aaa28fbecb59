"""``license set`` reads standard input with a limit: endless input is a usage error (exit 2),
not an exhausted memory (exit 70)."""

from __future__ import annotations

import io
import sys

import pytest

from app.cli import license as cli_license
from app.model.errors import ValidationError


def test_more_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\0" * (10 * 1024 * 1024))))
    with pytest.raises(ValidationError) as caught:
        cli_license._read_key_from_user()
    assert caught.value.exit_code == 2 and caught.value.field == "license key"
    assert "4096 bytes" in caught.value.problem


def test_dev_zero_is_refused_without_reading_it_all(monkeypatch):
    with open("/dev/zero", "rb") as endless:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(endless))
        with pytest.raises(ValidationError):
            cli_license._read_key_from_user()


def test_a_key_within_the_limit_is_read(monkeypatch):
    key = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(key.encode())))
    assert cli_license._read_key_from_user() == key
