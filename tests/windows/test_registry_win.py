"""The registry for real through ``winreg``: the administrator's HKLM policy (same precedence
and "locked" as the Linux file) and the HKCU ``Run`` value that starts the tray at login."""

from __future__ import annotations

import json
import uuid
import winreg

import pytest

from app import APP_ID
from app.model.consent import NO_POLICY
from app.storage.policy import WINDOWS_POLICY_KEY, load_admin_policy, read_windows_policy
from app.support.autostart import RUN_KEY, Autostart
from tests.configs import vendor_config
from tests.windows.cli import cli_env, run_cli


def delete_tree(root: int, path: str) -> None:
    try:
        with winreg.OpenKey(root, path, 0, winreg.KEY_ALL_ACCESS) as key:
            while True:
                try:
                    child = winreg.EnumKey(key, 0)
                except OSError:
                    break
                delete_tree(root, f"{path}\\{child}")
    except FileNotFoundError:
        return
    winreg.DeleteKey(root, path)


def write_policy(path: str, values: dict[str, tuple[int, object]]) -> None:
    with winreg.CreateKey(winreg.HKEY_LOCAL_MACHINE, path) as key:
        for name, (kind, value) in values.items():
            winreg.SetValueEx(key, name, 0, kind, value)


@pytest.fixture()
def scratch_key():
    path = rf"SOFTWARE\Policies\license-companion-test\{uuid.uuid4().hex}\telemetry"
    yield path
    delete_tree(winreg.HKEY_LOCAL_MACHINE, path.rsplit("\\", 2)[0])


@pytest.fixture()
def real_policy():
    """A writer of the product's own HKLM policy key, removed afterwards; one an administrator
    already set is never touched (the test is skipped)."""
    try:
        winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, WINDOWS_POLICY_KEY).Close()
        pytest.skip(rf"HKLM\{WINDOWS_POLICY_KEY} already exists on this machine")
    except FileNotFoundError:
        pass
    yield lambda values: write_policy(WINDOWS_POLICY_KEY, values)
    delete_tree(winreg.HKEY_LOCAL_MACHINE, WINDOWS_POLICY_KEY)


def test_no_key_is_no_policy(scratch_key):
    assert read_windows_policy(scratch_key) == NO_POLICY


def test_values_written_to_hklm_are_read_back(scratch_key):
    write_policy(scratch_key, {"Enabled": (winreg.REG_DWORD, 1), "LOCKED": (winreg.REG_DWORD, 1),
                               "deny": (winreg.REG_MULTI_SZ, ["usage", "diagnostics"])})
    policy = read_windows_policy(scratch_key)
    assert (policy.enabled, policy.locked, policy.deny) == (True, True, {"usage", "diagnostics"})
    assert policy.source == rf"HKLM\{scratch_key}" and policy.error == ""


def test_a_wrong_type_is_the_safe_reading(scratch_key):
    write_policy(scratch_key, {"deny": (winreg.REG_SZ, "usage")})
    policy = read_windows_policy(scratch_key)
    assert (policy.enabled, policy.locked) == (False, True)
    assert "REG_MULTI_SZ" in policy.error and scratch_key in policy.error


def test_load_admin_policy_reads_the_registry_on_windows(real_policy):
    assert load_admin_policy("org.example") == NO_POLICY
    real_policy({"enabled": (winreg.REG_DWORD, 0)})
    policy = load_admin_policy("org.example")
    assert policy.enabled is False and policy.source == rf"HKLM\{WINDOWS_POLICY_KEY}"


def test_the_cli_obeys_the_hklm_policy(real_policy, tmp_path):
    config = tmp_path / "companion.toml"
    config.write_text(vendor_config(), encoding="utf-8")
    env = cli_env(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                  LICENSE_COMPANION_CONFIG=str(config))
    real_policy({"deny": (winreg.REG_MULTI_SZ, ["usage"]), "locked": (winreg.REG_DWORD, 1)})
    granted = run_cli(env, "consent", "grant", "usage")
    assert granted.returncode == 2, granted.stdout + granted.stderr
    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert status["policy"]["source"] == rf"HKLM\{WINDOWS_POLICY_KEY}"
    assert status["policy"]["deny"] == ["usage"] and status["policy"]["locked"] is True
    usage = status["consent"]["usage"]
    assert (usage["decided_by"], usage["locked"]) == ("policy", True)
    # The other categories stay the user's, but locked: the user cannot change them either.
    assert status["consent"]["performance"]["locked"] is True


@pytest.fixture()
def run_value():
    """The HKCU Run value of ours, restored afterwards to what it was."""
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            before: str | None = winreg.QueryValueEx(key, APP_ID)[0]
    except FileNotFoundError:
        before = None
    yield
    autostart = Autostart(["x"], platform="win32")
    autostart.disable()
    if before is not None:
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, APP_ID, 0, winreg.REG_SZ, before)


def read_run_value() -> str | None:
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            return winreg.QueryValueEx(key, APP_ID)[0]
    except FileNotFoundError:
        return None


def test_autostart_on_and_off_through_the_run_key(run_value):
    command = [r"C:\Program Files\License Companion\license-companion-tray.exe", "--home",
               r"C:\Users\me\state dir", "tray"]
    autostart = Autostart(command, platform="win32")
    autostart.disable()
    assert autostart.is_enabled() is False and read_run_value() is None
    autostart.enable()
    assert autostart.is_enabled() is True
    assert read_run_value() == ('"C:\\Program Files\\License Companion\\license-companion-tray.exe"'
                                ' --home "C:\\Users\\me\\state dir" tray')
    autostart.enable()  # again: replaced, not doubled
    assert autostart.is_enabled() is True
    autostart.disable()
    assert autostart.is_enabled() is False and read_run_value() is None
    autostart.disable()  # nothing to remove: no error
