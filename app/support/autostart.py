"""Start at login, per platform, without Qt.

* Linux and other XDG desktops: ``$XDG_CONFIG_HOME/autostart/<app-id>.desktop``
  (freedesktop Desktop Application Autostart spec; ``~/.config`` when the variable is unset).
  When the package installed ``/etc/xdg/autostart/<app-id>.desktop`` for everyone, turning it
  off writes the user file with ``Hidden=true``, which overrides it for this user.
* Windows: the ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`` value ``<app-id>``.
* macOS: ``~/Library/LaunchAgents/<bundle-id>.plist`` with ``RunAtLoad``.

``enable`` writes the entry for the command given (the running executable by default), so
``--home``/``--config`` the user started us with are kept; ``disable`` removes only our entry.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app import APP_ID, NAME
from app.model.errors import CompanionError

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
BUNDLE_ID = "org.licensecompanion.tray"


class AutostartError(CompanionError):
    """The login entry could not be read or written (permissions, no registry...)."""


def default_command(extra: Sequence[str] = ()) -> list[str]:
    """How to start the tray again: the frozen executable, the installed script, or python -m."""
    if getattr(sys, "frozen", False):
        base = [sys.executable]
    else:
        argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
        if argv0 is not None and argv0.name.startswith(APP_ID) and argv0.exists():
            base = [str(argv0.resolve())]
        else:
            base = [sys.executable, "-m", "app"]
    return [*base, *extra, "tray"]


def login_args(home: str | os.PathLike[str] | None, config: str | os.PathLike[str] | None
               ) -> list[str]:
    """``--home``/``--config`` as the user gave them, made absolute for a start at login.

    Without them a tray started at login would use the default state directory and vendor
    configuration, i.e. another queue and consent than the tray that turned the entry on.
    Only explicit options are kept: defaults stay defaults (an update may move them).
    """
    args: list[str] = []
    for option, value in (("--home", home), ("--config", config)):
        if value:
            args += [option, str(Path(value).expanduser().resolve())]
    return args


def _desktop_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec (double quotes, escaped specials)."""
    if arg and all(c.isalnum() or c in "-_./=:+," for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'.replace("%", "%%")


class Autostart:
    """The "Start at login" entry of the current user.

    Args:
        command: the command line to run at login (default: ``default_command()``).
        platform: ``sys.platform`` value to act for (tests pass another).
        environ: environment (``XDG_CONFIG_HOME``, ``HOME``).
        home: the user's home (default: ``Path.home()``).
    """

    def __init__(
        self,
        command: Sequence[str] | None = None,
        platform: str = sys.platform,
        environ: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> None:
        self.command = list(command) if command is not None else default_command()
        self.platform = platform
        self.environ = os.environ if environ is None else environ
        self.home = home or Path.home()

    # -- where --------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Where the entry lives, for messages."""
        if self.platform == "win32":
            return f"HKCU\\{RUN_KEY}\\{APP_ID}"
        return str(self._path())

    def _path(self) -> Path:
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{BUNDLE_ID}.plist"
        config = self.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "autostart" / f"{APP_ID}.desktop"

    # -- what ---------------------------------------------------------------------------------

    def desktop_entry(self) -> str:
        """The XDG ``.desktop`` file's text."""
        exec_line = " ".join(_desktop_quote(arg) for arg in self.command)
        return (
            "[Desktop Entry]\n"
            "Type=Application\n"
            f"Name={NAME}\n"
            "Comment=Your license key and the usage data you agreed to send\n"
            f"Exec={exec_line}\n"
            f"Icon={APP_ID}\n"
            "Terminal=false\n"
            "X-GNOME-Autostart-enabled=true\n"
            "X-GNOME-Autostart-Delay=5\n"
        )

    def launch_agent(self) -> bytes:
        """The macOS LaunchAgent plist."""
        import plistlib  # macOS only (reading the admin policy imports this module everywhere)

        return plistlib.dumps({
            "Label": BUNDLE_ID,
            "ProgramArguments": list(self.command),
            "RunAtLoad": True,
            "KeepAlive": False,
            "ProcessType": "Interactive",
        })

    # -- operations ---------------------------------------------------------------------------

    def is_enabled(self) -> bool:
        """Whether our entry exists (and, on XDG, is not disabled with ``Hidden=true``)."""
        if self.platform == "win32":
            return self._win_get() is not None
        path = self._path()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.system_entry() is not None
        except OSError as exc:
            raise AutostartError(f"cannot read {path}: {exc.strerror}") from None
        if self.platform == "darwin":
            return True
        return "Hidden=true" not in text.replace(" ", "")

    def system_entry(self) -> Path | None:
        """An XDG entry installed for every user (the .deb's ``/etc/xdg/autostart``), if any.

        A user file of the same name overrides it (XDG autostart spec), which is how we turn a
        system entry off for one user: ``Hidden=true``.
        """
        if self.platform in ("darwin", "win32"):
            return None
        dirs = self.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        for folder in dirs.split(os.pathsep):
            candidate = Path(folder) / "autostart" / f"{APP_ID}.desktop"
            if folder and candidate.is_file():
                return candidate
        return None

    def enable(self) -> None:
        """Write the entry (replacing ours if present)."""
        if self.platform == "win32":
            self._win_set(subprocess_list2cmdline(self.command))
            return
        path = self._path()
        data = self.launch_agent() if self.platform == "darwin" else \
            self.desktop_entry().encode("utf-8")
        self._write(path, data)

    def disable(self) -> None:
        """Remove our entry (nothing happens when there is none)."""
        if self.platform == "win32":
            self._win_delete()
            return
        path = self._path()
        if self.system_entry() is not None:
            # Installed for everyone: hide it for this user instead (removing ours would not do).
            self._write(path, (self.desktop_entry() + "Hidden=true\n").encode("utf-8"))
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise AutostartError(f"cannot remove {path}: {exc.strerror}") from None

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise AutostartError(f"cannot write {path}: {exc.strerror}") from None

    # -- Windows ------------------------------------------------------------------------------

    def _winreg(self) -> Any:
        try:
            import winreg
        except ImportError:
            raise AutostartError("the Windows registry is not available here") from None
        return winreg

    def _win_get(self) -> str | None:
        winreg = self._winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, APP_ID)
                return str(value)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AutostartError(f"cannot read HKCU\\{RUN_KEY}: {exc}") from None

    def _win_set(self, command: str) -> None:
        winreg = self._winreg()
        try:
            with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.SetValueEx(key, APP_ID, 0, winreg.REG_SZ, command)
        except OSError as exc:
            raise AutostartError(f"cannot write HKCU\\{RUN_KEY}: {exc}") from None

    def _win_delete(self) -> None:
        winreg = self._winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, APP_ID)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AutostartError(f"cannot write HKCU\\{RUN_KEY}: {exc}") from None


def subprocess_list2cmdline(args: Sequence[str]) -> str:
    """A Windows command line (MS C runtime quoting), as the Run key expects."""
    import subprocess

    return subprocess.list2cmdline(list(args))
