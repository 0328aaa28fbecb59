"""The host's license answer: offline grace from fresh signed answers only (real keyring)."""

from __future__ import annotations

import time
import uuid

import pytest

from app.core.identity import derive_identity
from app.core.license import LicenseService
from app.delivery.http import HttpClient
from app.door.license import SKEW, install_recorder, license_answer
from app.receiver import KeyManagerReceiver, License
from app.storage.config import parse_config
from app.storage.db import Database
from app.storage.keyring.license_store import LicenseStore
from app.storage.state import StateStore

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
IDENTITY = derive_identity("7", "3d1219c7c4c5404aaa1f6d2a48adfda4", "alice")
DAY = 86400


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def rx():
    with KeyManagerReceiver(api_key=API_KEY, licenses={LICENSE: License(max_activations=1)}) \
            as receiver:
        yield receiver


def make(tmp_path, rx, clock, *, pem=True, grace=3):
    pem_line = ""
    if pem:
        (tmp_path / "km.pem").write_bytes(rx.public_key_pem)
        pem_line = 'public_key = "km.pem"'
    config = parse_config(tmp_path / "companion.toml", f"""
[product]
name = "Test Product"
id = "7"
[keymanager]
url = "{rx.base_url}"
api_key = "{API_KEY}"
{pem_line}
timeout = 5
[telemetrydeck]
enabled = false
[license]
offline_grace_days = {grace}
""")
    store = LicenseStore(f"license-companion:test-{uuid.uuid4().hex[:8]}", timeout=3)
    db = Database(tmp_path / "state" / "companion.db")
    db.open()
    service = LicenseService(config, store, StateStore(db), lambda: IDENTITY, HttpClient(5),
                             clock=clock)
    install_recorder(service)
    service.set_key(LICENSE)
    return service


def test_fresh_signed_answer_gives_grace_until_its_signed_time_plus_days(tmp_path, rx,
                                                                         keyring_env):
    clock = Clock()
    rx.clock = clock
    service = make(tmp_path, rx, clock)
    assert service.activate().state == "valid"
    answer = license_answer(service, 3, clock())
    assert answer["license"]["state"] == "valid" and LICENSE not in str(answer)
    offline = answer["offline"]
    assert offline["counts_as_valid"] and offline["signed"] and offline["fresh"]
    assert offline["until"] == pytest.approx(int(clock.now) + 3 * DAY, abs=1)
    rx.close()  # the server is gone from here on
    clock.now += 2 * DAY
    later = license_answer(service, 3, clock(), refresh=True)
    assert later["license"]["state"] == "unknown" and later["license"]["last_state"] == "valid"
    assert later["offline"]["counts_as_valid"]
    clock.now += 2 * DAY
    over = license_answer(service, 3, clock())
    assert not over["offline"]["counts_as_valid"] and "over" in over["offline"]["reason"]
    service.close()


def test_a_backdated_or_replayed_answer_is_not_fresh(tmp_path, rx, keyring_env):
    clock = Clock()
    rx.clock = lambda: clock.now - 2 * SKEW  # the server's signed time is 20 min behind
    service = make(tmp_path, rx, clock)
    assert service.activate().state == "valid"
    offline = license_answer(service, 7, clock())["offline"]
    assert not offline["counts_as_valid"] and not offline["fresh"]
    assert "not taken as fresh" in offline["reason"]
    service.close()


def test_clock_set_back_ends_the_grace_for_good(tmp_path, rx, keyring_env):
    clock = Clock()
    rx.clock = clock
    service = make(tmp_path, rx, clock)
    assert service.activate().state == "valid"
    start = clock.now
    clock.now = start - DAY
    back = license_answer(service, 7, clock())["offline"]
    assert back["clock_set_back"] and not back["counts_as_valid"]
    clock.now = start + 60
    again = license_answer(service, 7, clock())["offline"]
    assert again["clock_set_back"] and not again["counts_as_valid"]
    assert service.verify().state == "valid"  # a new fresh answer starts a new grace
    assert license_answer(service, 7, clock())["offline"]["counts_as_valid"]
    service.close()


def test_a_clock_moved_past_the_grace_and_back_does_not_bring_it_back(tmp_path, rx, keyring_env):
    clock = Clock()
    rx.clock = clock
    service = make(tmp_path, rx, clock)
    assert service.activate().state == "valid"
    start = clock.now
    rx.close()  # offline from here on
    clock.now = start + 10 * DAY
    over = license_answer(service, 7, clock(), refresh=True)["offline"]
    assert not over["counts_as_valid"]
    clock.now = start + 3 * DAY  # inside the grace again by the clock alone
    back = license_answer(service, 7, clock())["offline"]
    assert not back["counts_as_valid"] and "only a new answer" in back["reason"]
    assert back["until"] == pytest.approx(start + 7 * DAY, abs=1)
    service.close()


def test_the_grace_still_counts_while_the_clock_only_moves_forward_inside_it(tmp_path, rx,
                                                                            keyring_env):
    clock = Clock()
    rx.clock = clock
    service = make(tmp_path, rx, clock)
    assert service.activate().state == "valid"
    start = clock.now
    rx.close()
    for day in (1, 2, 3, 6):
        clock.now = start + day * DAY
        assert license_answer(service, 7, clock())["offline"]["counts_as_valid"], day
    service.close()


def test_without_a_public_key_the_grace_is_unsigned(tmp_path, rx, keyring_env):
    clock = Clock()
    service = make(tmp_path, rx, clock, pem=False)
    assert service.activate().state == "valid"
    offline = license_answer(service, 7, clock())["offline"]
    assert offline["counts_as_valid"] and not offline["signed"]
    service.close()
