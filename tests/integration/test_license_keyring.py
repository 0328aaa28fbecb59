"""LicenseStore against a real Secret Service (private dbus-daemon + gnome-keyring-daemon)."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import pytest

from app.core.identity import derive_identity
from app.model.errors import KeyringUnavailableError
from app.storage.keyring.license_store import KEY_USERNAME, KeyringSecretStore, LicenseStore

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]

KEY = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
OTHER_KEY = "XK7P-99QZ-AB12-77TT"


@pytest.fixture()
def store(keyring_env):
    # a fresh service per test: no test sees another's key
    return LicenseStore(f"license-companion:test-{uuid.uuid4().hex[:8]}", timeout=3)


def secret_tool_lookup(env, service: str) -> str:
    """Read the entry from outside Python, the way another Secret Service client would."""
    result = subprocess.run(
        ["secret-tool", "lookup", "service", service, "username", KEY_USERNAME],
        capture_output=True, text=True, timeout=10, env=env.client_env(),
    )
    return result.stdout


def test_set_get_replace_clear_round_trip(store, keyring_env):
    assert store.get() == ""
    assert store.set(" 9CC2CC83-4C74-49F9-98F5-F0E1C1EB1541\n") == KEY
    assert store.get() == KEY
    assert secret_tool_lookup(keyring_env, store.service) == KEY  # really in the keyring
    assert store.set(OTHER_KEY) == OTHER_KEY
    assert store.get() == OTHER_KEY
    assert store.clear() is True
    assert store.get() == ""
    assert store.clear() is False
    assert "SecretService" in store.backend_name()


def test_two_products_do_not_share_a_key(keyring_env):
    a = LicenseStore(LicenseStore.service_name("p-a-" + uuid.uuid4().hex[:6], "A"), timeout=3)
    b = LicenseStore(LicenseStore.service_name("p-b-" + uuid.uuid4().hex[:6], "B"), timeout=3)
    a.set(KEY)
    assert b.get() == ""
    b.set(OTHER_KEY)
    assert a.get() == KEY


def test_key_survives_a_daemon_restart(store, keyring_env):
    store.set(KEY)
    keyring_env.stop_keyring()
    keyring_env.start_keyring()  # same data dir, unlocked with the same password
    assert store.get() == KEY


def test_daemon_stopped_is_a_clear_error_quickly(store, keyring_env):
    store.set(KEY)
    keyring_env.stop_keyring()
    started = time.monotonic()
    for call in (store.get, lambda: store.set(KEY), store.clear):
        with pytest.raises(KeyringUnavailableError) as info:
            call()
        message = str(info.value)
        assert "not running" in message and "gnome-keyring-daemon" in message
        assert KEY not in message
    assert time.monotonic() - started < 3


def test_no_session_bus_is_a_clear_error(store, keyring_env):
    keyring_env.stop_keyring()
    keyring_env.stop_bus()
    with pytest.raises(KeyringUnavailableError) as info:
        store.get()
    assert "session bus" in str(info.value)


def test_frozen_daemon_times_out_instead_of_hanging(store, keyring_env):
    store.set(KEY)
    keyring_env.daemon.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(KeyringUnavailableError) as info:
        store.set(OTHER_KEY)
    elapsed = time.monotonic() - started
    assert 2.5 < elapsed < 6, elapsed  # the 3 s deadline, not D-Bus's two minutes
    assert "did not answer within 3 s" in str(info.value)
    assert OTHER_KEY not in str(info.value)


def test_locked_collection_is_a_clear_error_within_the_timeout(store, keyring_env):
    store.set(KEY)
    keyring_env.lock_login()
    assert keyring_env.login_locked()
    started = time.monotonic()
    with pytest.raises(KeyringUnavailableError) as info:
        store.get()
    assert time.monotonic() - started < 4
    message = str(info.value)
    assert "locked" in message and "unlock" in message
    assert KEY not in message


def test_generated_machine_id_is_kept_in_the_keyring(keyring_env):
    secret_store = KeyringSecretStore(f"license-companion:test-{uuid.uuid4().hex[:8]}", timeout=3)
    first = derive_identity("42", secret_store=secret_store, reader=lambda: None, os_user="alice")
    keyring_env.stop_keyring()
    keyring_env.start_keyring()  # a "reinstall" loses nothing: the id lives in the keyring
    again = derive_identity("42", secret_store=secret_store, reader=lambda: None, os_user="alice")
    assert first.user_identifier == again.user_identifier
    assert "OS keyring" in first.machine_id_source


def keyring_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("keyring-")]


def test_a_hung_keyring_does_not_pile_up_threads_and_later_calls_fail_fast(store, keyring_env):
    store.set(KEY)
    before = len(keyring_threads())
    keyring_env.daemon.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(KeyringUnavailableError, match="did not answer within 3 s"):
            store.get()
        for _ in range(5):  # each tray round asks again
            started = time.monotonic()
            with pytest.raises(KeyringUnavailableError) as info:
                store.get()
            assert time.monotonic() - started < 0.5
            assert "the keyring is not answering" in str(info.value)
        assert len(keyring_threads()) <= max(before, 1)
    finally:
        keyring_env.daemon.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    while True:  # the stuck call returns once the daemon runs again; then calls work
        try:
            assert store.get() == KEY
            break
        except KeyringUnavailableError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
