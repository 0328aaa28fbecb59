"""A block ("stopped until the setup changes") holds for the setup it was set under only."""

from __future__ import annotations

from app.delivery.send_state import current_state, setup_fingerprint
from app.storage.config import parse_config
from tests.configs import telemetrydeck, vendor_config


def fingerprint(tmp_path, app_id: str, api_key: str = "k1") -> str:
    config = parse_config(tmp_path / "companion.toml", vendor_config(
        keymanager={"url": "http://127.0.0.1:9", "api_key": api_key},
        telemetrydeck=telemetrydeck("http://127.0.0.1:9/v2/", app_id)))
    return setup_fingerprint("telemetrydeck", config.telemetrydeck, config.product)


def test_the_fingerprint_follows_the_setup_and_hides_it(tmp_path):
    first = fingerprint(tmp_path, "APP-1")
    assert first == fingerprint(tmp_path, "APP-1")
    assert first != fingerprint(tmp_path, "APP-2")
    assert "APP-1" not in first and len(first) == 16


def test_a_block_ends_with_another_setup_and_an_old_one_holds():
    blocked = {"blocked": "HTTP 403: unknown appID", "blocked_setup": "aaaa", "failures": 1}
    assert current_state(blocked, "aaaa")["blocked"] == "HTTP 403: unknown appID"
    assert current_state(blocked, "bbbb")["blocked"] is None
    assert current_state(blocked, "bbbb")["failures"] == 1  # only the block ends
    assert blocked["blocked"]  # the stored state is not changed by reading it
    older = {"blocked": "HTTP 401"}  # stored before setups were kept: it holds
    assert current_state(older, "bbbb")["blocked"] == "HTTP 401"
