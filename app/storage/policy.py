"""The administrator's policy: read from where each OS keeps machine-wide policy.

* Linux: ``/etc/<app id>/policy.toml`` (``/etc/license-companion/policy.toml``).
* Windows: the values of ``HKLM\\SOFTWARE\\Policies\\<vendor>\\<product>\\telemetry`` (computer
  policy) and of the same key under ``HKCU`` (user policy: Group Policy writes it, the user can only
  read it). Both are in force at once and each can only reduce (``combine_policies``).
* macOS: ``/Library/Managed Preferences/<bundle id>.plist`` (written by an MDM profile).

Why the Linux path is fixed, not taken from the environment or a flag: a location a user can
change is a policy any user can escape. A vendor that rebrands changes the folder through
``APP_ID`` (branding), never at run time; tests pass a path as an argument.

Why an invalid policy turns telemetry off instead of being ignored: an administrator who made a
typo meant to restrict something, and guessing "no policy" would send what they meant to stop.
The error still names the file and the key, so the mistake is found (``status``, ``doctor``).
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app import APP_ID, NAME, ORGANIZATION
from app.model.consent import NO_POLICY, AdminPolicy
from app.model.errors import CompanionError

LINUX_POLICY_PATH = Path("/etc") / APP_ID / "policy.toml"
MACOS_POLICY_DIR = Path("/Library/Managed Preferences")
WINDOWS_POLICY_KEY = rf"SOFTWARE\Policies\{ORGANIZATION}\{NAME}\telemetry"
MAX_POLICY_BYTES = 64 * 1024  # a policy is a few lines; anything bigger is not one
TABLE = "telemetry"
KEYS = {"enabled": bool, "deny": list, "locked": bool}


class PolicyError(CompanionError):
    """The administrator's policy cannot be read; names the file (or registry key) and key."""

    exit_code = 2

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"administrator policy {where}: {problem}")


def safe_reading(error: PolicyError) -> AdminPolicy:
    """What an unreadable policy means: telemetry off and locked, with the error kept."""
    return AdminPolicy(source=error.source, enabled=False, locked=True, error=str(error))


def parse_policy(data: Mapping[str, Any], source: str) -> AdminPolicy:
    """Validate parsed policy data (``{"telemetry": {...}}``), whichever OS it came from.

    Raises:
        PolicyError: an unknown table or key, or a value of the wrong type (named).
    """
    for table in data:
        if table != TABLE:
            raise PolicyError(source, f"[{table}]", f"unknown table; only [{TABLE}] is known")
    section = data.get(TABLE, {})
    if not isinstance(section, Mapping):
        raise PolicyError(source, f"[{TABLE}]", "must be a table")
    for key, value in section.items():
        kind = KEYS.get(key)
        where = f"[{TABLE}] {key}"
        if kind is None:
            raise PolicyError(source, where, f"unknown key; known: {', '.join(KEYS)}")
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            wanted = "true or false" if kind is bool else "a list of category ids"
            raise PolicyError(source, where, f"must be {wanted}, got {type(value).__name__}")
    deny = section.get("deny", [])
    for index, item in enumerate(deny):
        if not isinstance(item, str) or not item.strip():
            raise PolicyError(source, f"[{TABLE}] deny[{index}]", "must be a non-empty category id")
    return AdminPolicy(
        source=source,
        enabled=section.get("enabled", True),
        deny=frozenset(item.strip() for item in deny),
        locked=section.get("locked", False),
    )


def parse_policy_text(text: str, source: str) -> AdminPolicy:
    """Validate the TOML text of a policy file.

    Raises:
        PolicyError: not TOML, or invalid content (named).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, None, f"is not valid TOML: {exc}") from None
    return parse_policy(data, source)


def _read_bytes(path: Path, limit: int = MAX_POLICY_BYTES) -> bytes | None:
    """The file's bytes, None when there is no file; PolicyError for anything else odd.

    Opened non-blocking so a FIFO in its place cannot hang the app, then checked on the open
    descriptor (no race between the check and the read).
    """
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PolicyError(source, None, f"cannot be read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = "a directory, not a file" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise PolicyError(source, None, f"is {what}")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise PolicyError(source, None, f"is {info.st_size} bytes; a policy is at most {limit}")
        problem = _untrusted(info, source) if sys.platform != "win32" else ""
        if problem:
            raise PolicyError(source, None, problem)
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise PolicyError(source, None, f"cannot be read: {exc.strerror}") from None
    if len(data) > limit:
        raise PolicyError(source, None, f"is larger than {limit} bytes")
    return data


def _untrusted(info: os.stat_result, source: str) -> str:
    """Why a policy file with this owner and mode cannot be trusted ("" when it can): a file
    another user can change is a policy that user can rewrite."""
    mode = f"mode {stat.S_IMODE(info.st_mode):04o}, owner uid {info.st_uid}"
    fix = f"chown root:root {source} && chmod 644 {source}"
    if info.st_mode & stat.S_IWOTH:
        return (f"is writable by every user ({mode}), so it cannot be trusted; make it "
                f"writable by root only: {fix}")
    if info.st_mode & stat.S_IWGRP:
        return (f"is writable by its group ({mode}), so it cannot be trusted; make it "
                f"writable by root only: {fix}")
    if info.st_uid not in (0, os.geteuid()):
        return (f"is owned by another user ({mode}), so it cannot be trusted; make root "
                f"its owner: {fix}")
    return ""


def read_policy_file(path: Path = LINUX_POLICY_PATH) -> AdminPolicy:
    """The policy in a TOML file: ``NO_POLICY`` when absent, the safe reading when invalid."""
    try:
        data = _read_bytes(path)
        if data is None:
            return NO_POLICY
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError(str(path), None, "is not UTF-8 text") from None
        return parse_policy_text(text, str(path))
    except PolicyError as exc:
        return safe_reading(exc)


def policy_from_registry(values: Mapping[str, Any], source: str) -> AdminPolicy:
    """The policy from a registry key's values (name → value as ``winreg`` returns them).

    ``enabled`` and ``locked`` are REG_DWORD 0 or 1; ``deny`` is REG_MULTI_SZ (a list). Names
    are matched without regard to case, as the registry does. An invalid value gives the safe
    reading.
    """
    try:
        converted: dict[str, Any] = {}
        for raw_name, value in values.items():
            name = raw_name.lower()
            if name in ("enabled", "locked"):
                if isinstance(value, bool) or value not in (0, 1):
                    raise PolicyError(source, name, f"must be a REG_DWORD 0 or 1, got {value!r}")
                converted[name] = bool(value)
            elif name == "deny" and isinstance(value, str):
                raise PolicyError(source, name, "must be a REG_MULTI_SZ (one category per line)")
            else:
                converted[name] = value
        return parse_policy({TABLE: converted}, source)
    except PolicyError as exc:
        return safe_reading(exc)


def combine_policies(*policies: AdminPolicy) -> AdminPolicy:
    """Several policies in force at once, as one: the most restrictive of them.

    One rule for every platform: a policy can only take away, so a second policy can take away
    more but never give back what the first took. Telemetry stays on only if every policy leaves
    it on; the denied categories add up; one lock locks. An invalid policy (the safe reading:
    off and locked) therefore wins over a valid one, and its error is kept. ``source`` names
    every place that holds a policy, in the order given.
    """
    present = [policy for policy in policies if policy.present]
    if not present:
        return NO_POLICY
    if len(present) == 1:
        return present[0]
    return AdminPolicy(
        source=" and ".join(policy.source for policy in present),
        enabled=all(policy.enabled for policy in present),
        deny=frozenset().union(*(policy.deny for policy in present)),
        locked=any(policy.locked for policy in present),
        error="; ".join(policy.error for policy in present if policy.error),
    )


def read_registry_policy(hive: str, key: str = WINDOWS_POLICY_KEY) -> AdminPolicy:  # pragma: no cover
    """Read the policy values of one hive (``"HKLM"`` or ``"HKCU"``); Windows only (``winreg``)."""
    if sys.platform != "win32":
        return NO_POLICY
    import winreg

    roots = {"HKLM": winreg.HKEY_LOCAL_MACHINE, "HKCU": winreg.HKEY_CURRENT_USER}
    source = rf"{hive}\{key}"
    try:
        handle = winreg.OpenKey(roots[hive], key)
    except FileNotFoundError:
        return NO_POLICY
    except OSError as exc:
        return safe_reading(PolicyError(source, None, f"cannot be read: {exc.strerror}"))
    values: dict[str, Any] = {}
    with handle:
        index = 0
        while True:
            try:
                name, value, _kind = winreg.EnumValue(handle, index)
            except OSError:
                break
            values[name] = value
            index += 1
    return policy_from_registry(values, source)


def read_windows_policy(key: str = WINDOWS_POLICY_KEY) -> AdminPolicy:  # pragma: no cover - Windows
    """The computer policy (HKLM) and the user policy (HKCU) under ``key``, combined."""
    return combine_policies(read_registry_policy("HKLM", key), read_registry_policy("HKCU", key))


def macos_policy_path(bundle_id: str) -> Path:
    """Where an MDM profile for this bundle id puts its managed preferences."""
    return MACOS_POLICY_DIR / f"{bundle_id}.plist"


def read_plist_policy(path: Path) -> AdminPolicy:
    """The policy in a managed-preferences plist: a ``telemetry`` dictionary, same keys."""
    try:
        data = _read_bytes(path)
        if data is None:
            return NO_POLICY
        import plistlib  # macOS only

        try:
            parsed = plistlib.loads(data)
        except (plistlib.InvalidFileException, ValueError, OverflowError) as exc:
            raise PolicyError(str(path), None, f"is not a valid property list: {exc}") from None
        if not isinstance(parsed, dict):
            raise PolicyError(str(path), None, "must hold a dictionary at the top")
        return parse_policy(parsed, str(path))
    except PolicyError as exc:
        return safe_reading(exc)


def load_admin_policy(
    bundle_id: str,
    *,
    platform: str | None = None,
    linux_path: Path = LINUX_POLICY_PATH,
    windows_reader: Callable[[], AdminPolicy] | None = None,
) -> AdminPolicy:
    """The policy in force on this machine, from this OS's place.

    Args:
        bundle_id: the macOS bundle id (the managed preferences' file name).
        platform: ``sys.platform`` by default.
        linux_path: the Linux file; an argument for tests only, the app never changes it.
        windows_reader: reads the registry (``read_windows_policy`` by default).
    """
    platform = platform or sys.platform
    if platform == "win32":
        return (windows_reader or read_windows_policy)()
    if platform == "darwin":
        return read_plist_policy(macos_policy_path(bundle_id))
    return read_policy_file(linux_path)
