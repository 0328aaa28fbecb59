"""The seat policy of ``LicenseService.replace_key``/``remove_key``, with the real keyring and
the KeyManager test receiver: a key is never replaced or removed while its seat here stays
taken without the user being told how to free it."""

from __future__ import annotations

import pytest

from app.model.errors import ValidationError
from app.receiver import ACTIVATE_PATH, DEACTIVATE_PATH, KeyManagerReceiver, License, Respond
from tests.integration.test_license_service import API_KEY, IDENTITY, LICENSE, make_service

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]

OTHER = "5f0b2a77-8c1e-4e55-9d3a-a1b2c3d4e5f6"
SEAT = IDENTITY.activation_identifier


@pytest.fixture()
def rx(private_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=private_key,
                            licenses={LICENSE: License(max_activations=1),
                                      OTHER: License(max_activations=1)}) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def private_key():
    from app.receiver import generate_private_key

    return generate_private_key()


@pytest.fixture()
def service(tmp_path, rx, keyring_env):
    svc = make_service(tmp_path, rx, timeout=2.0)
    yield svc
    svc.clear_key()
    svc.close()


def paths(rx) -> list[str]:
    return [r.path for r in rx.requests]


def test_a_first_key_is_stored_and_activated_with_nothing_to_free(service, rx):
    change = service.replace_key(f"  {LICENSE.upper()}\n")
    assert (change.notice, change.seat_kept) == ("", False)
    assert service.key() == LICENSE
    assert paths(rx) == [ACTIVATE_PATH]
    assert rx.licenses[LICENSE].activations == {SEAT}
    assert service.cached_status().state == "valid"


def test_replacing_an_active_key_frees_its_seat_first(service, rx):
    service.replace_key(LICENSE)
    change = service.replace_key(OTHER)
    assert paths(rx) == [ACTIVATE_PATH, DEACTIVATE_PATH, ACTIVATE_PATH]
    assert rx.requests[1].form["license_key"] == LICENSE  # the old key's seat, before the swap
    assert rx.licenses[LICENSE].activations == set()
    assert rx.licenses[OTHER].activations == {SEAT}
    assert not change.seat_kept
    assert "9cc2…1541" in change.notice and "was freed" in change.notice and "400" in change.notice
    assert LICENSE not in change.notice
    assert service.key() == OTHER


def test_the_same_key_again_frees_nothing(service, rx):
    service.replace_key(LICENSE)
    change = service.replace_key(LICENSE.upper())
    assert change.notice == "" and DEACTIVATE_PATH not in paths(rx)
    assert rx.licenses[LICENSE].activations == {SEAT}


def test_a_key_that_never_held_a_seat_is_replaced_without_asking(service, rx):
    rx.licenses[LICENSE].activations.update({"a", "b"})  # the limit is reached: 302, no seat
    service.replace_key(LICENSE)
    assert service.cached_status().state == "invalid"
    service.replace_key(OTHER)
    assert DEACTIVATE_PATH not in paths(rx)


def test_a_seat_that_cannot_be_freed_is_said_and_the_key_still_replaced(service, rx):
    service.replace_key(LICENSE)
    rx.script(Respond(500, b"down for maintenance"))  # the deactivation fails
    change = service.replace_key(OTHER)
    assert change.seat_kept
    assert "stays taken" in change.notice and "Free this computer's seat" in change.notice
    assert "HTTP 500" in change.notice and LICENSE not in change.notice
    assert rx.licenses[LICENSE].activations == {SEAT}
    assert service.key() == OTHER and rx.licenses[OTHER].activations == {SEAT}


def test_garbage_changes_nothing_and_frees_no_seat(service, rx):
    service.replace_key(LICENSE)
    with pytest.raises(ValidationError):
        service.replace_key("\x00\x01")
    assert service.key() == LICENSE
    assert paths(rx) == [ACTIVATE_PATH]
    assert rx.licenses[LICENSE].activations == {SEAT}


def test_removing_frees_the_seat_then_the_key(service, rx):
    service.replace_key(LICENSE)
    change = service.remove_key()
    assert "was freed" in change.notice and not change.seat_kept
    assert rx.licenses[LICENSE].activations == set()
    assert service.key() == "" and service.cached_status().state == "no-key"
    assert service.remove_key().notice == ""  # nothing stored: nothing to free, no request
    assert paths(rx) == [ACTIVATE_PATH, DEACTIVATE_PATH]


def test_offline_after_a_valid_answer_still_tries_to_free_the_seat(service, rx):
    service.replace_key(LICENSE)
    rx.script(Respond(503, b"unavailable"))
    assert service.verify().state == "unknown"  # no answer now; the last one said valid
    rx.script(Respond(503, b"unavailable"))
    change = service.remove_key()
    assert paths(rx)[-1] == DEACTIVATE_PATH
    assert change.seat_kept and "stays taken" in change.notice
    assert service.key() == ""
