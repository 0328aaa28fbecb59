"""No KeyManager telemetry without a license key: the events wait, ``status`` says why.

Against the real KeyManager test receiver and the private Secret Service (tests/conftest.py):
an empty ``license_key`` looks like a pirated copy to the vendor, so not one request without a
key may reach the receiver, on any path (``send``, a send round, "Send now").
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from app.core.companion import Companion
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.model.errors import NO_KEY_REASON
from app.receiver import KeyManagerReceiver, License
from app.storage.config import load_config
from tests.configs import API_KEY, CATEGORIES, keymanager, telemetrydeck, write_vendor_config

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(90)]

LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
IDENTITY = Identity("u" * 32, "a" * 32, "test", "tester")


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids=None,
                            licenses={LICENSE: License(max_activations=2)}) as rx:
        yield rx


@pytest.fixture()
def make(tmp_path: Path, km, td, keyring_env):
    made: list[Companion] = []
    product = f"nokey-{uuid.uuid4().hex[:8]}"  # its own keyring entry

    def build(*, td_on: bool = False, without_key: str | None = None) -> Companion:
        extra = {"without_key": without_key} if without_key else {}
        path = write_vendor_config(
            tmp_path / "companion.toml", pem=km.public_key_pem,
            product={"id": product},
            keymanager=keymanager(km.base_url, API_KEY, timeout=2, **extra),
            telemetrydeck=telemetrydeck(td.url, timeout=2) if td_on else None,
            categories=CATEGORIES)
        companion = build_companion(load_config(path), tmp_path / "home",
                                    identity=lambda: IDENTITY, environ={}, keyring_timeout=5)
        companion.grant()
        made.append(companion)
        return companion

    yield build
    for companion in made:
        if companion.license is not None:
            companion.license.clear_key()
        companion.close()


def telemetry_requests(km: KeyManagerReceiver) -> list:
    return [r for r in km.requests if r.path.endswith("/send-telemetry-data")]


def test_send_without_a_key_sends_nothing_and_keeps_the_events(make, km):
    companion = make()
    companion.track("feature.export", kind="number", value=1)
    report = companion.send(force=True)["keymanager"]
    assert telemetry_requests(km) == []
    assert report.requests == 0 and report.stopped == NO_KEY_REASON
    assert companion.outbox.counts() == {"keymanager": 1}
    backend = companion.status().backend("keymanager")
    assert backend.waiting_because == NO_KEY_REASON
    assert backend.state.failures == 0 and backend.state.last_error is None
    assert backend.state.last_success is None
    assert companion.history() == []
    # The tray's cheaper status (no keyring read) says the same, from the send state.
    assert companion.status(read_keyring=False).backend("keymanager").waiting_because \
        == NO_KEY_REASON


def test_rounds_and_send_now_without_a_key_send_nothing(make, km):
    companion = make()
    companion.track("feature.export", kind="number", value=1)
    for force in (False, True, False):
        reports = companion.send_round(force=force)
        assert reports["keymanager"].requests == 0
    assert telemetry_requests(km) == []
    assert companion.outbox.counts() == {"keymanager": 1}


def test_once_a_key_is_stored_the_waiting_events_go_with_it(make, km):
    companion = make()
    companion.track("feature.export", kind="number", value=1)
    companion.send()
    assert companion.senders["keymanager"].wait_time()[1] == NO_KEY_REASON
    assert companion.license is not None
    companion.license.set_key(LICENSE)
    assert companion.senders["keymanager"].wait_time() == (0.0, "")  # no wait left
    report = companion.send()["keymanager"]
    assert report.delivered == 1
    (sent,) = telemetry_requests(km)
    assert sent.form["license_key"] == LICENSE
    assert companion.status().backend("keymanager").waiting_because == ""


def test_telemetrydeck_does_not_wait_for_the_key(make, km, td):
    companion = make(td_on=True)
    companion.track("feature.export", kind="number", value=1)
    reports = companion.send(force=True)
    assert reports["telemetrydeck"].delivered == 1
    assert reports["keymanager"].requests == 0
    assert telemetry_requests(km) == []
    assert companion.outbox.counts() == {"keymanager": 1}


def test_a_flagged_831_is_not_a_success(make, km):
    companion = make()
    assert companion.license is not None
    companion.license.set_key(LICENSE)
    km.check_license_keys = True
    km.licenses.clear()  # the server no longer knows the key: 831 "license key is invalid"
    companion.track("feature.export", kind="number", value=1)
    report = companion.send(force=True)["keymanager"]
    assert report.flagged == 1
    state = companion.status().backend("keymanager").state
    assert state.last_success is None
    assert state.rejected_total == 1 and (state.last_rejection or "").startswith("831")
    (entry,) = companion.history()
    assert entry.verdict == "flagged" and entry.code == 831


def test_the_receiver_would_have_flagged_an_empty_key(km):
    """The receiver is the judge above: an empty key is what it calls 831 "required"."""
    import urllib.request

    body = ("api_key=" + API_KEY + "&data_type=text&text_data=x&product_id=1&user_identifier=u"
            "&license_key=&activation_identifier=a&product_version=1&data_group=g").encode()
    request = urllib.request.Request(km.base_url + "/api/v1/send-telemetry-data", data=body,
                                     headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()
    (rec,) = telemetry_requests(km)
    assert rec.code == 831
    assert "license_key" in rec.validation.errors


def test_skip_keeps_the_events_when_the_keyring_cannot_say(make, km, keyring_env):
    """A locked keyring is a doubt, not "no key": the events are kept (and wait)."""
    from tests.conftest import _revive

    companion = make(without_key="skip")
    keyring_env.lock_login()
    try:
        result = companion.track("feature.export", kind="number", value=1)
        assert result.not_kept == {} and companion.outbox.counts() == {"keymanager": 1}
        companion.send(force=True)
        assert telemetry_requests(km) == []
    finally:
        _revive(keyring_env)  # unlocked again, so the key can be cleared afterwards


def test_skip_asks_the_keyring_once_then_remembers(make, km):
    from app.core.license import KEY_SEEN, NO_KEY_SEEN

    companion = make(without_key="skip")
    first = companion.track("feature.export", kind="number", value=1)
    assert first.not_kept == {"keymanager": "no_license_key"}
    assert companion.state.get(NO_KEY_SEEN) is not None
    assert companion.license is not None
    companion.license.set_key(LICENSE)
    assert companion.state.get(NO_KEY_SEEN) is None and companion.state.get(KEY_SEEN)
    assert companion.track("feature.export", kind="number", value=2).not_kept == {}
    assert companion.outbox.counts() == {"keymanager": 1}
    assert companion.send()["keymanager"].delivered == 1
    (sent,) = telemetry_requests(km)
    assert sent.form["license_key"] == LICENSE
    assert [e.verdict for e in companion.history()] == ["delivered", "dropped"]
