"""keyring's Windows backend (Credential Manager) for real, and the license flow through the
product's license store and through the real CLI process."""

from __future__ import annotations

import json
import uuid

import keyring
import pytest
from keyring.backends.Windows import WinVaultKeyring

from app.storage.keyring.license_store import KEY_USERNAME, LicenseStore
from tests.configs import write_vendor_config
from tests.windows.cli import cli_env, run_cli

LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"


def forget(service: str, user: str) -> None:
    try:
        keyring.delete_password(service, user)
    except keyring.errors.PasswordDeleteError:
        pass


@pytest.fixture()
def service():
    name = f"license-companion-test:{uuid.uuid4().hex}"
    yield name
    for user in (KEY_USERNAME, "someone"):
        forget(name, user)


def test_the_backend_is_the_credential_manager():
    assert isinstance(keyring.get_keyring(), WinVaultKeyring)


def test_set_get_delete(service):
    assert keyring.get_password(service, "someone") is None
    keyring.set_password(service, "someone", "s3cret")
    assert keyring.get_password(service, "someone") == "s3cret"
    keyring.set_password(service, "someone", "replaced")
    assert keyring.get_password(service, "someone") == "replaced"
    keyring.delete_password(service, "someone")
    assert keyring.get_password(service, "someone") is None
    with pytest.raises(keyring.errors.PasswordDeleteError):
        keyring.delete_password(service, "someone")


def test_the_license_store_round_trip(service):
    store = LicenseStore(service)
    assert store.get() == ""
    assert store.set("  9CC2CC83-4C74-49F9-98F5-F0E1C1EB1541\n") == LICENSE
    assert store.get() == LICENSE
    assert keyring.get_password(service, KEY_USERNAME) == LICENSE  # in the Credential Manager
    assert "WinVault" in store.backend_name()
    assert store.clear() is True
    assert store.get() == "" and keyring.get_password(service, KEY_USERNAME) is None
    assert store.clear() is False


def test_the_license_commands_of_the_real_cli(tmp_path):
    product = uuid.uuid4().hex[:12]
    config = write_vendor_config(tmp_path / "companion.toml", product={"id": product},
                                 categories=())
    env = cli_env(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                  LICENSE_COMPANION_CONFIG=str(config))
    service = LicenseStore.service_name(product, "")
    try:
        shown = run_cli(env, "license", "show")
        assert shown.returncode == 1 and "no license key stored" in shown.stdout
        stored = run_cli(env, "license", "set", stdin=f"  {LICENSE.upper()}\n")
        assert stored.returncode == 0, stored.stderr
        assert "9cc2…1541" in stored.stdout and "WinVault" in stored.stdout
        assert LICENSE not in stored.stdout + stored.stderr
        assert keyring.get_password(service, KEY_USERNAME) == LICENSE
        assert run_cli(env, "license", "show", "--reveal").stdout.strip() == LICENSE
        status = json.loads(run_cli(env, "status", "--json").stdout)
        assert LICENSE not in json.dumps(status)
        cleared = run_cli(env, "license", "clear")
        assert cleared.returncode == 0, cleared.stderr
        assert keyring.get_password(service, KEY_USERNAME) is None
    finally:
        forget(service, KEY_USERNAME)
