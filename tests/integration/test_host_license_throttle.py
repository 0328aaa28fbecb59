"""``license`` with ``refresh: true`` is throttled: one connection cannot drive the license
server; later callers within the interval get the last answer with a note."""

from __future__ import annotations

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.companion_side import REFRESH_EVERY, CompanionHost
from app.receiver import KeyManagerReceiver, License
from app.storage.config import load_config
from tests.configs import keymanager, write_vendor_config

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]
API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"


def test_refresh_asks_the_server_at_most_once_per_interval(tmp_path, keyring_env, monkeypatch):
    import app.door.companion_side as module

    now = [1000.0]
    monkeypatch.setattr(module, "_monotonic", lambda: now[0])
    with KeyManagerReceiver(api_key=API_KEY, licenses={LICENSE: License(max_activations=5)},
                            product_ids={"1"}) as rx:
        config = write_vendor_config(tmp_path / "companion.toml", consent_version=1,
                                     keymanager=keymanager(rx.base_url, API_KEY))
        companion = build_companion(load_config(config), tmp_path / "home",
                                    license_key=lambda: LICENSE,
                                    identity=lambda: Identity("u" * 32, "a" * 32, "t", "t"),
                                    environ={})
        try:
            host = CompanionHost(companion)
            before = len(rx.requests)
            first = host.license(refresh=True)
            assert "note" not in first
            asked = len(rx.requests) - before
            assert asked >= 1
            for _ in range(50):
                again = host.license(refresh=True)
                assert "at most once" in again["note"]
            assert len(rx.requests) - before == asked
            now[0] += REFRESH_EVERY + 1
            assert "note" not in host.license(refresh=True)
            assert len(rx.requests) - before == 2 * asked
        finally:
            companion.close()
