"""Shared fixtures. Keyring tests get a private, real Secret Service (tests/keyring_env.py).

Tests marked ``@pytest.mark.keyring`` are skipped only when gnome-keyring is not installed
(CI installs it through scripts/install-system-deps.sh, so there they always run); any other
failure to start the daemons is an error, not a skip.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator

import pytest

from tests.keyring_env import PrivateSecretService, gnome_keyring_binary

NO_GNOME_KEYRING = ("gnome-keyring-daemon is not installed (Debian: apt-get install gnome-keyring "
                    "dbus libsecret-tools; CI does this in scripts/install-system-deps.sh)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("keyring") and gnome_keyring_binary() is None:
        pytest.skip(NO_GNOME_KEYRING)


def _point_keyring_at(service: PrivateSecretService) -> None:
    import keyring
    import keyring.backends.SecretService

    os.environ["DBUS_SESSION_BUS_ADDRESS"] = service.address
    keyring.set_keyring(keyring.backends.SecretService.Keyring())


@pytest.fixture(scope="session")
def secret_service() -> Iterator[PrivateSecretService]:
    """A private dbus-daemon + unlocked gnome-keyring for the whole session, torn down after."""
    if gnome_keyring_binary() is None:
        pytest.skip(NO_GNOME_KEYRING)
    import keyring

    saved_env = {k: os.environ.get(k) for k in ("DBUS_SESSION_BUS_ADDRESS",)}
    saved_backend = keyring.get_keyring() if getattr(keyring.core, "_keyring_backend", None) \
        else None
    service = PrivateSecretService()
    service.start()
    _point_keyring_at(service)
    try:
        yield service
    finally:
        service.stop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if saved_backend is not None:
            keyring.set_keyring(saved_backend)


@pytest.fixture()
def keyring_env(secret_service: PrivateSecretService) -> Iterator[PrivateSecretService]:
    """The private Secret Service, running and unlocked for this test whatever the last one did.

    Tests may stop, freeze (SIGSTOP) or lock it; this puts it back afterwards.
    """
    _revive(secret_service)
    yield secret_service
    _revive(secret_service)


def _revive(service: PrivateSecretService) -> None:
    if service.daemon is not None and service.daemon.poll() is None:
        service.daemon.send_signal(signal.SIGCONT)  # a test may have frozen it
    if service.bus is None or service.bus.poll() is not None:
        service.stop_keyring()
        service.start_bus()
    if service.daemon is None or service.daemon.poll() is not None or service.login_locked():
        service.stop_keyring()
        service.start_keyring()
    _point_keyring_at(service)


@pytest.fixture(autouse=True)
def _never_the_real_state_dir(tmp_path_factory: pytest.TempPathFactory,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test, and every process it starts, writes under a temporary state directory and
    XDG config home unless it chooses its own: the user's real data is never touched."""
    base = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("LICENSE_COMPANION_HOME", str(base / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.delenv("LICENSE_COMPANION_CONFIG", raising=False)
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)


@pytest.fixture(scope="session")
def signing_key():
    """One RSA key for every test receiver that signs KeyManager answers (making one is slow)."""
    from app.receiver import generate_private_key

    return generate_private_key()


@pytest.fixture()
def td():
    """A running TelemetryDeck test receiver on 127.0.0.1."""
    from app.receiver import TelemetryDeckReceiver

    with TelemetryDeckReceiver() as rx:
        yield rx


@pytest.fixture()
def etc_policy() -> Iterator[object]:
    """A writer of the real /etc policy file (0644, as an administrator would write it), removed
    afterwards; one an administrator already put there is never touched (the test is skipped).
    The tests that use it run only as root (CI does)."""
    from app.storage.policy import LINUX_POLICY_PATH

    if LINUX_POLICY_PATH.exists():
        pytest.skip(f"{LINUX_POLICY_PATH} already exists on this machine; not overwriting it")
    folder = LINUX_POLICY_PATH.parent
    made_folder = not folder.exists()

    def write(text: str) -> None:
        folder.mkdir(mode=0o755, exist_ok=True)
        tmp = folder / f".policy-{uuid.uuid4().hex}"
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(LINUX_POLICY_PATH)

    try:
        yield write
    finally:
        LINUX_POLICY_PATH.unlink(missing_ok=True)
        if made_folder and folder.exists():
            folder.rmdir()
