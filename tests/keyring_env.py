"""A private, real Secret Service for tests: its own dbus-daemon and gnome-keyring-daemon.

Why not the developer's session keyring: tests must never read or write real secrets, and CI has
no session at all. Why a hand-written bus config: the stock session config lets D-Bus
*auto-activate* gnome-keyring from /usr/share/dbus-1/services, so "the daemon is stopped" could
never be observed (the next call would quietly start a fresh, locked daemon that prompts).

Facts this relies on (gnome-keyring on Linux): the daemon needs HOME and a 0700
XDG_RUNTIME_DIR or it fails quietly; with a DISPLAY in its environment an unlock prompt opens a
window and blocks forever, so the bus and the daemon never see DISPLAY/WAYLAND_DISPLAY;
``--unlock`` returns before the daemon owns ``org.freedesktop.secrets``, so we wait for the name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.procs import terminate

SECRETS_NAME = "org.freedesktop.secrets"
LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"
DAEMON_START_TIMEOUT = 10.0

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def gnome_keyring_binary() -> str | None:
    """The daemon's path, or None when gnome-keyring is not installed."""
    return shutil.which("gnome-keyring-daemon")


class PrivateSecretService:
    """One throwaway HOME with a private session bus and an unlocked gnome-keyring.

    ``stop_keyring``/``start_keyring`` restart only the keyring daemon on the same data dir
    (persistence tests); ``stop_bus`` takes the whole bus away.
    """

    password = b"throwaway-test-password"

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="lc-keyring-")
        self.root = Path(root or self._tmp.name)  # type: ignore[union-attr]
        self.home = self.root / "home"
        self.runtime = self.root / "runtime"
        self.data = self.home / ".local" / "share"
        self.config = self.home / ".config"
        self.bus: subprocess.Popen[bytes] | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.address = ""

    # -- environment ------------------------------------------------------------------------

    def daemon_env(self) -> dict[str, str]:
        """The environment the bus and the daemon run with: no display, private dirs."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
                           "GNOME_KEYRING_CONTROL", "SSH_AUTH_SOCK")
        }
        env.update(
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_DATA_HOME=str(self.data),
            XDG_CONFIG_HOME=str(self.config),
            XDG_CACHE_HOME=str(self.home / ".cache"),
        )
        if self.address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        return env

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for test subprocesses that use this keyring (DISPLAY kept if set)."""
        env = dict(os.environ if base is None else base)
        env.update(
            DBUS_SESSION_BUS_ADDRESS=self.address,
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_DATA_HOME=str(self.data),
            XDG_CONFIG_HOME=str(self.config),
            # keyring's own choice would also find SecretService; pinning it makes a broken
            # bus fail loudly instead of falling back to something else.
            PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring",
        )
        return env

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the bus and the keyring daemon; returns once the Secret Service answers."""
        for path in (self.home, self.data, self.config):
            path.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.start_bus()
        self.start_keyring()

    def start_bus(self) -> None:
        """A session bus that cannot auto-start services (see the module docstring)."""
        socket_dir = self.root / "bus"
        socket_dir.mkdir(exist_ok=True)
        conf = self.root / "session.conf"
        conf.write_text(BUS_CONFIG.format(socket_dir=socket_dir), encoding="utf-8")
        self.address = ""
        self.bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.daemon_env(),
        )
        assert self.bus.stdout is not None
        line = _readline_with_timeout(self.bus, DAEMON_START_TIMEOUT)
        if not line:
            self.stop_bus()
            raise RuntimeError("dbus-daemon printed no address")
        self.address = line.strip()

    def start_keyring(self) -> None:
        """gnome-keyring-daemon in the foreground, unlocked with the throwaway password."""
        binary = gnome_keyring_binary()
        if binary is None:
            raise RuntimeError("gnome-keyring-daemon is not installed")
        self.daemon = subprocess.Popen(
            [binary, "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=self.daemon_env(),
        )
        assert self.daemon.stdin is not None
        self.daemon.stdin.write(self.password)
        self.daemon.stdin.close()
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not self.name_has_owner(SECRETS_NAME):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                self.stop_keyring()
                raise RuntimeError("gnome-keyring-daemon did not take org.freedesktop.secrets")
            time.sleep(0.02)

    def stop_keyring(self) -> None:
        """Stop the keyring daemon (its data dir stays); waits until its name is gone."""
        _terminate(self.daemon)
        self.daemon = None
        if self.bus is not None and self.bus.poll() is None:
            deadline = time.monotonic() + 5
            while self.name_has_owner(SECRETS_NAME) and time.monotonic() < deadline:
                time.sleep(0.02)

    def stop_bus(self) -> None:
        """Stop the session bus."""
        _terminate(self.bus)
        self.bus = None

    def stop(self) -> None:
        """Stop everything and delete the temporary HOME."""
        self.stop_keyring()
        self.stop_bus()
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def running(self) -> bool:
        """Both daemons are alive."""
        return all(p is not None and p.poll() is None for p in (self.bus, self.daemon))

    # -- D-Bus from the outside ---------------------------------------------------------------

    def _call(self, dest: str, path: str, method: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["dbus-send", "--session", "--print-reply", f"--dest={dest}", path, method, *args],
            capture_output=True, text=True, timeout=10, env=self.daemon_env(),
        )

    def name_has_owner(self, name: str) -> bool:
        """``org.freedesktop.DBus.NameHasOwner`` on the private bus."""
        result = self._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus.NameHasOwner", f"string:{name}")
        return result.returncode == 0 and "boolean true" in result.stdout

    def lock_login(self) -> None:
        """Lock the login collection through ``org.freedesktop.Secret.Service.Lock``."""
        result = self._call(SECRETS_NAME, "/org/freedesktop/secrets",
                            "org.freedesktop.Secret.Service.Lock",
                            f"array:objpath:{LOGIN_COLLECTION}")
        if result.returncode != 0:
            raise RuntimeError(f"Lock failed: {result.stderr.strip()}")

    def login_locked(self) -> bool:
        """The login collection's ``Locked`` property."""
        result = self._call(SECRETS_NAME, LOGIN_COLLECTION, "org.freedesktop.DBus.Properties.Get",
                            "string:org.freedesktop.Secret.Collection", "string:Locked")
        return "boolean true" in result.stdout


def _readline_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line of ``proc``, or "" when none comes within ``timeout``."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline().decode("ascii", "replace")


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    terminate(proc, timeout=5)
