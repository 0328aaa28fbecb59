"""The administrator's policy: readers for each OS, validation, and the safe reading."""

from __future__ import annotations

import os
import plistlib
import sys

import pytest

from app.model.consent import NO_POLICY, AdminPolicy
from app.storage.policy import (
    LINUX_POLICY_PATH,
    MAX_POLICY_BYTES,
    PolicyError,
    combine_policies,
    load_admin_policy,
    macos_policy_path,
    parse_policy_text,
    policy_from_registry,
    read_plist_policy,
    read_policy_file,
)


def write(path, text: str, mode: int = 0o644):
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="compares POSIX path text")
def test_the_linux_path_is_fixed_by_the_app_id():
    assert str(LINUX_POLICY_PATH) == "/etc/license-companion/policy.toml"


def test_no_file_is_no_policy(tmp_path):
    assert read_policy_file(tmp_path / "policy.toml") is NO_POLICY
    assert not NO_POLICY.present and NO_POLICY.enabled


def test_all_keys_read(tmp_path):
    path = write(tmp_path / "policy.toml",
                 '[telemetry]\nenabled = true\ndeny = ["usage", " crashes "]\nlocked = true\n')
    policy = read_policy_file(path)
    assert policy.source == str(path) and not policy.error
    assert policy.enabled and policy.locked
    assert policy.deny == {"usage", "crashes"}
    assert policy.denies("usage") and not policy.denies("other")


def test_empty_file_restricts_nothing(tmp_path):
    policy = read_policy_file(write(tmp_path / "policy.toml", ""))
    assert policy.present and policy.enabled and not policy.deny and not policy.locked
    assert "no restriction" in policy.describe()


def test_telemetry_off(tmp_path):
    policy = read_policy_file(write(tmp_path / "p.toml", "[telemetry]\nenabled = false\n"))
    assert not policy.enabled and policy.denies("anything")
    assert "telemetry is off" in policy.describe()


@pytest.mark.parametrize(("text", "named"), [
    ("[telemetry\n", "is not valid TOML"),
    ("[telemetry]\nenabeld = false\n", "[telemetry] enabeld: unknown key"),
    ("[telemetry]\nenabled = 0\n", "[telemetry] enabled: must be true or false, got int"),
    ("[telemetry]\nenabled = 'no'\n", "[telemetry] enabled: must be true or false, got str"),
    ("[telemetry]\nlocked = 1\n", "[telemetry] locked: must be true or false"),
    ("[telemetry]\ndeny = 'usage'\n", "[telemetry] deny: must be a list of category ids"),
    ("[telemetry]\ndeny = [1]\n", "[telemetry] deny[0]: must be a non-empty category id"),
    ("[telemetry]\ndeny = ['']\n", "[telemetry] deny[0]"),
    ("[telemetri]\nenabled = false\n", "[telemetri]: unknown table"),
    ("telemetry = 1\n", "[telemetry]: must be a table"),
])
def test_invalid_content_is_named_and_turns_telemetry_off(tmp_path, text, named):
    path = write(tmp_path / "policy.toml", text)
    policy = read_policy_file(path)
    assert policy.present and policy.error
    assert str(path) in policy.error and named in policy.error
    assert not policy.enabled and policy.locked  # the safe reading, never "no policy"
    assert "invalid" in policy.describe()


def test_strict_parser_raises_with_exit_code_2():
    with pytest.raises(PolicyError) as err:
        parse_policy_text("[telemetry]\nlocked = 'yes'\n", "/etc/x/policy.toml")
    assert err.value.exit_code == 2 and err.value.key == "[telemetry] locked"
    assert "/etc/x/policy.toml" in str(err.value)


def test_not_utf8(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_bytes(b"[telemetry]\n# \xff\xfe\n")
    policy = read_policy_file(path)
    assert "not UTF-8" in policy.error and not policy.enabled


def test_a_directory_in_its_place(tmp_path):
    path = tmp_path / "policy.toml"
    path.mkdir()
    policy = read_policy_file(path)
    assert "directory" in policy.error and not policy.enabled


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX (Windows has none)")
def test_a_fifo_in_its_place_does_not_hang(tmp_path):
    path = tmp_path / "policy.toml"
    os.mkfifo(path)
    policy = read_policy_file(path)
    assert "not a regular file" in policy.error and not policy.enabled


def test_too_big(tmp_path):
    path = write(tmp_path / "policy.toml", "#" * (MAX_POLICY_BYTES + 1))
    policy = read_policy_file(path)
    assert "bytes" in policy.error and not policy.enabled


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX mode bits (on Windows the folder's ACL decides)")
def test_writable_by_everyone_is_not_trusted(tmp_path):
    path = write(tmp_path / "policy.toml", "[telemetry]\nlocked = false\n", mode=0o666)
    policy = read_policy_file(path)
    assert "writable by every user" in policy.error and not policy.enabled


@pytest.mark.skipif(sys.platform == "win32", reason="creating a symlink needs a privilege on Windows")
def test_a_symlink_to_a_good_file_is_followed(tmp_path):
    target = write(tmp_path / "real.toml", "[telemetry]\ndeny = ['usage']\n")
    link = tmp_path / "policy.toml"
    link.symlink_to(target)
    assert read_policy_file(link).deny == {"usage"}


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="POSIX modes: root reads files whatever their mode, Windows has none")
def test_unreadable(tmp_path):
    path = write(tmp_path / "policy.toml", "", mode=0o000)
    policy = read_policy_file(path)
    assert "cannot be read" in policy.error and not policy.enabled


# --- Windows: values as winreg returns them --------------------------------------------------

REG = r"HKLM\SOFTWARE\Policies\License Companion\License Companion\telemetry"


def test_registry_values():
    policy = policy_from_registry({"Enabled": 1, "Deny": ["usage", "crashes"], "Locked": 0}, REG)
    assert policy.enabled and not policy.locked and policy.deny == {"usage", "crashes"}
    assert policy.source == REG


def test_registry_telemetry_off():
    policy = policy_from_registry({"enabled": 0}, REG)
    assert not policy.enabled and not policy.error


@pytest.mark.parametrize(("values", "named"), [
    ({"enabled": 2}, "enabled: must be a REG_DWORD 0 or 1"),
    ({"locked": "1"}, "locked: must be a REG_DWORD 0 or 1"),
    ({"deny": "usage"}, "deny: must be a REG_MULTI_SZ"),
    ({"deny": [""]}, "deny[0]"),
    ({"sendAll": 1}, "sendall: unknown key"),
])
def test_registry_invalid_values(values, named):
    policy = policy_from_registry(values, REG)
    assert named in policy.error and REG in policy.error
    assert not policy.enabled and policy.locked


def test_windows_dispatch_uses_the_registry_reader(tmp_path):
    seen = policy_from_registry({"locked": 1}, REG)
    assert load_admin_policy("b.id", platform="win32", windows_reader=lambda: seen) is seen


# --- macOS: managed preferences plist --------------------------------------------------------


def test_plist_policy(tmp_path):
    path = tmp_path / "org.example.tray.plist"
    path.write_bytes(plistlib.dumps({"telemetry": {"enabled": True, "deny": ["usage"],
                                                   "locked": True}}))
    policy = read_plist_policy(path)
    assert policy.locked and policy.deny == {"usage"} and not policy.error


def test_binary_plist_telemetry_off(tmp_path):
    path = tmp_path / "p.plist"
    path.write_bytes(plistlib.dumps({"telemetry": {"enabled": False}}, fmt=plistlib.FMT_BINARY))
    assert not read_plist_policy(path).enabled


@pytest.mark.parametrize(("content", "named"), [
    (b"not a plist", "is not a valid property list"),
    (plistlib.dumps(["telemetry"]), "must hold a dictionary"),
    (plistlib.dumps({"telemetry": {"enabled": 0}}), "[telemetry] enabled: must be true or false"),
    (plistlib.dumps({"Telemetry": {}}), "[Telemetry]: unknown table"),
])
def test_plist_invalid(tmp_path, content, named):
    path = tmp_path / "p.plist"
    path.write_bytes(content)
    policy = read_plist_policy(path)
    assert named in policy.error and str(path) in policy.error and not policy.enabled


@pytest.mark.skipif(sys.platform == "win32", reason="compares POSIX path text")
def test_macos_path_and_dispatch():
    assert str(macos_policy_path("org.example.tray")) == \
        "/Library/Managed Preferences/org.example.tray.plist"
    # nothing there on this machine: no policy
    assert load_admin_policy("org.example.none", platform="darwin") is NO_POLICY


def test_linux_dispatch_reads_the_given_path(tmp_path):
    path = write(tmp_path / "policy.toml", "[telemetry]\nenabled = false\n")
    assert not load_admin_policy("b", platform="linux", linux_path=path).enabled


MACHINE = AdminPolicy(source=r"HKLM\P", deny=frozenset({"usage"}))
USER = AdminPolicy(source=r"HKCU\P", deny=frozenset({"crashes"}), locked=True)


def test_combining_no_policy_is_no_policy_and_one_policy_is_itself():
    assert combine_policies() == NO_POLICY
    assert combine_policies(NO_POLICY, NO_POLICY) == NO_POLICY
    assert combine_policies(NO_POLICY, USER) == USER
    assert combine_policies(MACHINE, NO_POLICY) == MACHINE


def test_combined_policies_take_away_what_either_takes_away():
    both = combine_policies(MACHINE, USER)
    assert both.source == r"HKLM\P and HKCU\P"
    assert (both.enabled, both.deny, both.locked, both.error) == (
        True, frozenset({"usage", "crashes"}), True, "")
    # The order does not change what is allowed, only the order the places are named in.
    other = combine_policies(USER, MACHINE)
    assert (other.enabled, other.deny, other.locked) == (both.enabled, both.deny, both.locked)


@pytest.mark.parametrize("first_on", [True, False])
def test_an_explicit_enabled_never_overrides_the_other_policy_turning_telemetry_off(first_on):
    on = AdminPolicy(source="A", enabled=True)
    off = AdminPolicy(source="B", enabled=False)
    both = combine_policies(on, off) if first_on else combine_policies(off, on)
    assert both.enabled is False and both.denies("anything")


def test_an_invalid_policy_in_either_place_is_the_safe_reading_with_its_error():
    broken = policy_from_registry({"locked": 7}, r"HKCU\P")
    both = combine_policies(AdminPolicy(source=r"HKLM\P"), broken)
    assert (both.enabled, both.locked) == (False, True)
    assert r"HKCU\P" in both.error and "REG_DWORD" in both.error


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX mode bits (on Windows the folder's ACL decides)")
def test_group_writable_is_not_trusted_and_says_the_fix(tmp_path):
    path = write(tmp_path / "policy.toml", "[telemetry]\nlocked = false\n", mode=0o644)
    path.chmod(0o664)
    policy = read_policy_file(path)
    assert not policy.enabled and policy.locked
    assert "writable by its group" in policy.error and "mode 0664" in policy.error
    assert f"chmod 644 {path}" in policy.error


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_file_owned_by_another_user_is_not_trusted(tmp_path):
    path = write(tmp_path / "policy.toml", "[telemetry]\nlocked = false\n", mode=0o644)
    os.chown(path, 65534, 65534)
    policy = read_policy_file(path)
    assert not policy.enabled and "owned by another user" in policy.error
    assert "owner uid 65534" in policy.error and "chown root:root" in policy.error


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX mode bits (on Windows the folder's ACL decides)")
def test_doctor_fails_an_untrusted_policy_and_names_owner_mode_and_fix(tmp_path):
    from app.doctor.report import Verdict, check_policy

    path = write(tmp_path / "policy.toml", "[telemetry]\nlocked = false\n", mode=0o664)
    check = check_policy(read_policy_file(path))
    assert check.verdict is Verdict.FAIL
    assert "mode 0664" in check.detail and "owner uid" in check.detail
    assert f"chmod 644 {path}" in check.detail
