"""LicenseService against the KeyManager test receiver over loopback, with the real keyring."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from app.core.identity import derive_identity
from app.core.license import LicenseService
from app.delivery.http import HttpClient
from app.model.errors import ValidationError
from app.receiver import (
    DEACTIVATE_PATH,
    VERIFY_PATH,
    BadSignature,
    Hang,
    KeyManagerReceiver,
    License,
    Respond,
    Unsigned,
    generate_private_key,
    make_envelope,
)
from app.storage.config import parse_config
from app.storage.db import Database
from app.storage.keyring.license_store import LicenseStore
from app.storage.state import StateStore
from tests.configs import keymanager, vendor_config

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
IDENTITY = derive_identity("7", "3d1219c7c4c5404aaa1f6d2a48adfda4", "alice")


@pytest.fixture(scope="module")
def private_key():
    return generate_private_key()


@pytest.fixture()
def rx(private_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=private_key,
                            licenses={LICENSE: License(max_activations=1),
                                      "expired-key-0001": License(expired=True)}) as receiver:
        yield receiver


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_service(tmp_path, rx, *, api_key=API_KEY, pem=True, timeout=5.0, clock=None):
    public_key = None
    if pem:
        (tmp_path / "km.pem").write_bytes(rx.public_key_pem)
        public_key = "km.pem"
    text = vendor_config(product={"id": "7", "version": "1.0"},
                         keymanager=keymanager(rx.base_url, api_key, public_key=public_key,
                                               timeout=timeout),
                         categories=())
    config = parse_config(tmp_path / "companion.toml", text)
    store = LicenseStore(f"license-companion:test-{uuid.uuid4().hex[:8]}", timeout=3)
    db = Database(tmp_path / "state" / "companion.db")
    db.open()
    return LicenseService(config, store, StateStore(db), lambda: IDENTITY,
                          HttpClient(timeout), clock=clock or time.time)


@pytest.fixture()
def service(tmp_path, rx, keyring_env):
    svc = make_service(tmp_path, rx)
    yield svc
    svc.close()


def test_no_key_means_no_request(service, rx):
    assert service.verify().state == "no-key"
    assert service.cached_status().state == "no-key"
    assert rx.requests == []


def test_activate_verify_deactivate_with_the_server(service, rx):
    assert service.set_key(LICENSE.upper()) == "9cc2…1541"
    status = service.verify()
    assert (status.state, status.code, status.ok) == ("invalid", 202, False)
    assert status.message == "No activation found for this license key and identifier"
    assert status.signature == "valid"

    status = service.activate()
    assert (status.state, status.code, status.ok) == ("valid", 300, True)
    assert service.activate().code == 301  # already active: still fine
    status = service.verify()
    assert (status.state, status.code, status.message) == ("valid", 200, "License key is valid")

    request = rx.requests[-1]
    assert request.path == VERIFY_PATH
    assert request.header("Accept") == "application/json"
    assert request.form == {"api_key": API_KEY, "license_key": LICENSE,
                            "identifier": IDENTITY.activation_identifier}

    status = service.deactivate()
    assert (status.code, status.ok) == (400, True)
    assert service.deactivate().code == 401
    assert service.verify().code == 202


def test_activation_limit_and_expired_and_unknown_keys(service, rx):
    rx.licenses[LICENSE].activations.add("another-computer")
    service.set_key(LICENSE)
    status = service.activate()
    assert (status.state, status.code, status.ok) == ("invalid", 302, False)
    assert status.message == "Activation limit reached"
    service.set_key("expired-key-0001")
    assert (service.verify().state, service.verify().code) == ("invalid", 205)
    service.set_key("ZZZZ-UNKNOWN-KEY")
    status = service.verify()
    assert (status.state, status.code, status.message) == ("invalid", 210, "Invalid license key")


def test_deactivate_code_sent_as_a_string(service, rx, private_key):
    service.set_key(LICENSE)
    envelope = make_envelope({"code": "400", "message": "License key deactivated"}, private_key)
    rx.script(Respond(200, json.dumps(envelope).encode(), {"Content-Type": "application/json"}))
    status = service.deactivate()
    assert (status.code, status.ok, status.message) == (400, True, "License key deactivated")
    assert rx.requests[-1].path == DEACTIVATE_PATH


def test_bad_signature_is_never_trusted(service, rx):
    service.set_key(LICENSE)
    service.activate()
    assert service.verify().state == "valid"
    rx.licenses[LICENSE].activations.clear()  # the truth is now "invalid"...
    rx.script(BadSignature())
    status = service.verify()  # ...but a forged answer must not be believed either way
    assert status.state == "unknown"
    assert status.problem.startswith("SECURITY")
    assert status.signature == "invalid"
    assert status.last_state == "valid"
    rx.script(Unsigned())
    assert service.verify().state == "unknown"


def test_wrong_api_key_is_unknown_not_invalid(tmp_path, rx, keyring_env):
    svc = make_service(tmp_path, rx, api_key="wrong-api-key-123")
    try:
        svc.set_key(LICENSE)
        status = svc.verify()
        assert status.state == "unknown"
        assert "100" in status.problem and "api_key" in status.problem
        assert "wrong-api-key-123" not in status.problem
    finally:
        svc.close()


def test_server_error_and_hang_are_unknown_with_the_age_of_the_last_answer(tmp_path, rx,
                                                                            keyring_env):
    clock = Clock()
    svc = make_service(tmp_path, rx, timeout=1.0, clock=clock)
    try:
        svc.set_key(LICENSE)
        svc.activate()
        assert svc.verify().state == "valid"
        answered_at = clock.now
        clock.now += 3 * 3600

        rx.script(Respond(500, b"oops"))
        status = svc.verify()
        assert (status.state, status.last_state) == ("unknown", "valid")
        assert "HTTP 500" in status.problem
        assert status.age(clock.now) == pytest.approx(3 * 3600)
        assert "last answer 3 h ago: valid" in status.describe(clock.now)

        rx.script(Hang(10))
        started = time.monotonic()
        status = svc.verify()
        assert time.monotonic() - started < 5
        assert status.state == "unknown" and "no answer" in status.problem

        cached = svc.cached_status()  # no network: the same picture
        assert (cached.state, cached.last_state, cached.checked_at) == ("unknown", "valid",
                                                                        answered_at)
        requests_before = len(rx.requests)
        svc.cached_status()
        assert len(rx.requests) == requests_before

        assert svc.verify().state == "valid"  # back online
        assert svc.cached_status().state == "valid"
    finally:
        svc.close()


def test_offline_server_gone(tmp_path, rx, keyring_env):
    svc = make_service(tmp_path, rx, timeout=1.0)
    rx.close()
    try:
        svc.set_key(LICENSE)
        status = svc.verify()
        assert status.state == "unknown" and "cannot connect" in status.problem
        assert status.describe(time.time()).startswith("unknown: cannot connect")
    finally:
        svc.close()


def test_set_and_clear_forget_the_old_keys_status(service, rx):
    service.set_key(LICENSE)
    service.activate()
    assert service.cached_status().state == "valid"
    service.set_key("ANOTHER-KEY-0002")
    assert service.cached_status().state == "unknown"  # not "valid": that was the old key
    assert service.clear_key() is True
    assert service.cached_status().state == "no-key"


def test_garbage_is_refused_and_nothing_changes(service):
    service.set_key(LICENSE)
    with pytest.raises(ValidationError):
        service.set_key("\x00\x01")
    assert service.key() == LICENSE
