"""The registry for real through ``winreg``: the administrator's policy under HKLM (computer)
and HKCU (user), combined by the one rule every platform follows (each can only take away), and
the HKCU ``Run`` value that starts the tray at login."""

from __future__ import annotations

import json
import subprocess
import uuid
import winreg

import pytest

from app import APP_ID
from app.model.consent import NO_POLICY
from app.storage.policy import (
    WINDOWS_POLICY_KEY,
    load_admin_policy,
    read_registry_policy,
    read_windows_policy,
)
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


def write_policy(path: str, values: dict[str, tuple[int, object]],
                 root: int = winreg.HKEY_LOCAL_MACHINE) -> None:
    with winreg.CreateKey(root, path) as key:
        for name, (kind, value) in values.items():
            winreg.SetValueEx(key, name, 0, kind, value)


@pytest.fixture()
def scratch_key():
    path = rf"SOFTWARE\Policies\license-companion-test\{uuid.uuid4().hex}\telemetry"
    yield path
    for root in (winreg.HKEY_LOCAL_MACHINE, winreg.HKEY_CURRENT_USER):
        delete_tree(root, path.rsplit("\\", 2)[0])


@pytest.fixture()
def real_policy():
    """A writer of the product's own HKLM policy key, removed afterwards; one an administrator
    already set is never touched (the test is skipped)."""
    roots = {"HKLM": winreg.HKEY_LOCAL_MACHINE, "HKCU": winreg.HKEY_CURRENT_USER}
    for hive, root in roots.items():
        try:
            winreg.OpenKey(root, WINDOWS_POLICY_KEY).Close()
            pytest.skip(rf"{hive}\{WINDOWS_POLICY_KEY} already exists on this machine")
        except FileNotFoundError:
            pass
    yield lambda values, hive="HKLM": write_policy(WINDOWS_POLICY_KEY, values, roots[hive])
    for root in roots.values():
        delete_tree(root, WINDOWS_POLICY_KEY)


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


def reg_add(hive: str, path: str, name: str, kind: str, data: str) -> None:
    """Write one value with Windows' own ``reg.exe``, as an administrator's script would."""
    done = subprocess.run(["reg", "add", rf"{hive}\{path}", "/v", name, "/t", kind, "/d", data,
                           "/f"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_values_written_to_hkcu_alone_are_the_policy(scratch_key):
    reg_add("HKCU", scratch_key, "enabled", "REG_DWORD", "0")
    policy = read_windows_policy(scratch_key)
    assert (policy.enabled, policy.locked, policy.error) == (False, False, "")
    assert policy.source == rf"HKCU\{scratch_key}"
    assert read_registry_policy("HKLM", scratch_key) == NO_POLICY


def test_hklm_and_hkcu_both_take_away_and_neither_gives_back(scratch_key):
    write_policy(scratch_key, {"enabled": (winreg.REG_DWORD, 1),
                               "deny": (winreg.REG_MULTI_SZ, ["usage"])})
    reg_add("HKCU", scratch_key, "deny", "REG_MULTI_SZ", "crashes")
    reg_add("HKCU", scratch_key, "locked", "REG_DWORD", "1")
    policy = read_windows_policy(scratch_key)
    assert policy.source == rf"HKLM\{scratch_key} and HKCU\{scratch_key}"
    assert (policy.enabled, policy.deny, policy.locked) == (True, {"usage", "crashes"}, True)
    # The machine's explicit "enabled = 1" does not undo the user policy turning telemetry off.
    reg_add("HKCU", scratch_key, "enabled", "REG_DWORD", "0")
    assert read_windows_policy(scratch_key).enabled is False


def test_an_invalid_hkcu_value_is_the_safe_reading_despite_a_valid_hklm(scratch_key):
    write_policy(scratch_key, {"locked": (winreg.REG_DWORD, 0)})
    reg_add("HKCU", scratch_key, "deny", "REG_SZ", "usage")
    policy = read_windows_policy(scratch_key)
    assert (policy.enabled, policy.locked) == (False, True)
    assert rf"HKCU\{scratch_key}" in policy.error and "REG_MULTI_SZ" in policy.error


def test_status_and_doctor_name_both_hives(real_policy, tmp_path):
    config = tmp_path / "companion.toml"
    config.write_text(vendor_config(), encoding="utf-8")
    env = cli_env(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                  LICENSE_COMPANION_CONFIG=str(config))
    real_policy({"deny": (winreg.REG_MULTI_SZ, ["usage"])}, "HKLM")
    real_policy({"locked": (winreg.REG_DWORD, 1)}, "HKCU")
    both = rf"HKLM\{WINDOWS_POLICY_KEY} and HKCU\{WINDOWS_POLICY_KEY}"
    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert status["policy"]["source"] == both
    assert (status["policy"]["deny"], status["policy"]["locked"]) == (["usage"], True)
    assert status["consent"]["performance"]["locked"] is True
    doctor = run_cli(env, "doctor")
    assert f"administrator policy {both}: denied: usage; choices are locked" in doctor.stdout, (
        doctor.stdout + doctor.stderr)
    # Only the user policy left: it alone is in force, named as such.
    delete_tree(winreg.HKEY_LOCAL_MACHINE, WINDOWS_POLICY_KEY)
    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert status["policy"]["source"] == rf"HKCU\{WINDOWS_POLICY_KEY}"
    assert status["policy"]["deny"] == [] and status["policy"]["locked"] is True
    granted = run_cli(env, "consent", "grant", "usage")
    assert granted.returncode == 2, granted.stdout + granted.stderr


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
