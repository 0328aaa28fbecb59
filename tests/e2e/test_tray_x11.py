"""The real ``license-companion`` in a real tray: Xvfb + openbox + trayer (XEmbed), driven by xdotool.

What a new user does, from the tray: the consent window opens by itself on first run, the icon
docks in the tray, its menu opens on a right click, the License window takes a typed key, and
History fills once events are sent. Screenshots of each step (``import -window root``) go to
``$LC_ARTIFACTS/screenshots`` (default ``test-artifacts/screenshots``); reviewers look at them.

Also measured and printed: start-to-icon time and the idle RSS of the tray process.

The session bus given to the app (the private Secret Service's, when gnome-keyring is
installed) has no ``org.kde.StatusNotifierWatcher``, so Qt uses XEmbed and trayer shows the icon.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import benchmarks.desktop
from app.door.client import Client
from app.receiver import KeyManagerReceiver, License, TelemetryDeckReceiver, generate_private_key
from tests.procs import terminate, wait_for
from tests.ui.conftest import API_KEY, LICENSE, write_config

pytestmark = [pytest.mark.tray, pytest.mark.timeout(180)]
REPO = Path(__file__).resolve().parents[2]
NEEDED = (*benchmarks.desktop.TOOLS, "import")


def screenshot_dir() -> Path:
    root = Path(os.environ.get("LC_ARTIFACTS") or REPO / "test-artifacts")
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder



class Desktop(benchmarks.desktop.Desktop):
    """The benchmarks' desktop on a display of the tests' range, with named screenshots."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp / "desktop.log", displays=range(100, 500))

    def shot(self, name: str) -> Path:
        path = self.screenshot(screenshot_dir() / f"{name}.png")
        assert path.stat().st_size > 1000
        return path


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture()
def desktop(tmp_path):
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: xvfb openbox trayer xdotool "
                    "imagemagick; CI installs them in scripts/install-system-deps.sh)")
    d = Desktop(tmp_path)
    try:
        d.start()
        yield d
    finally:
        d.stop()


@pytest.fixture()
def bus_address(request):
    """The private Secret Service's bus, when gnome-keyring is installed; else no bus at all."""
    try:
        service = request.getfixturevalue("keyring_env")
    except pytest.skip.Exception:
        return None
    return service.address


def test_tray_icon_menu_and_windows_under_x11(desktop, bus_address, tmp_path):
    key = generate_private_key()
    licenses = {LICENSE: License(max_activations=2)}
    with KeyManagerReceiver(api_key=API_KEY, private_key=key, licenses=licenses) as km, \
            TelemetryDeckReceiver() as td:
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        config = write_config(tmp_path / "cfg" / "companion.toml", km.url, td.url, pem)
        env = dict(desktop.env)
        sockdir = Path(tempfile.mkdtemp(prefix="lcx-", dir="/tmp"))  # short AF_UNIX path
        env.update(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                   LICENSE_COMPANION_CONFIG=str(config),
                   LICENSE_COMPANION_HOST_SOCKET=str(sockdir / "host.sock"),
                   XDG_CONFIG_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(REPO))
        env.pop("DO_NOT_TRACK", None)
        if bus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = bus_address
        exe = shutil.which("license-companion", path=str(Path(sys.executable).parent)) or ""
        cmd = [exe] if exe else [sys.executable, "-m", "app"]
        cli = [*cmd]

        def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
            return subprocess.run([*cli, *args], env=env, capture_output=True, text=True,
                                  timeout=60, input=stdin)

        if bus_address:
            run_cli("license", "clear")
        started = time.monotonic()
        tray = subprocess.Popen([*cmd, "tray", "--send-interval", "1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            icon_window = wait_for(lambda: desktop.docked_icon(tray.pid), 30,
                                   "the tray icon to dock", step=0.02)
            start_to_icon = time.monotonic() - started
            # First run: the consent window opens by itself, without blocking the tray.
            wait_for(lambda: desktop.find_name("sends — your choice"), 15, "the consent window")
            desktop.shot("e2e-01-first-run-consent-and-icon")
            consent = desktop.find_name("sends — your choice")
            desktop.run("xdotool", "windowclose", consent, check=False)  # closing is "not now"

            # Right-click the icon: the menu, rebuilt from the current state.
            desktop.run("xdotool", "mousemove", "--window", icon_window, "11", "11",
                        "click", "3")
            wait_for(lambda: any(desktop.geometry(w)[3] > 150 for w in
                                 desktop.windows_of(tray.pid)), 10, "the tray menu")
            desktop.shot("e2e-02-tray-menu")
            desktop.run("xdotool", "key", "Escape")

            # The License window: type a key as a user would, Enter saves it (in the keyring).
            run_cli("show", "license")
            window = wait_for(lambda: desktop.find_name("License —"), 15, "the license window")
            desktop.run("xdotool", "windowactivate", "--sync", window, check=False)
            time.sleep(0.5)
            desktop.run("xdotool", "type", "--delay", "5", LICENSE)
            desktop.run("xdotool", "key", "Return")
            time.sleep(1.5)
            desktop.shot("e2e-03-license-window")

            # Agree (here from the command line, the same database) and send a few events.
            assert run_cli("consent", "grant", "usage").returncode == 0
            for value in range(5):
                run_cli("track", "feature.export", "--value", str(value))
            wait_for(lambda: len(td.accepted_events()) >= 5, 30, "events to reach TelemetryDeck")
            # The vendor's application: the tray's endpoint answers, and its event is sent.
            info = json.loads(run_cli("host-info", "--json").stdout)
            assert info["running"] is True and info["address"] == str(sockdir / "host.sock")
            host = Client(socket_path=sockdir / "host.sock", inbox=tmp_path / "home" / "inbox")
            assert host.track("feature.export", value=42)["event_id"]
            wait_for(lambda: len(td.accepted_events()) >= 6, 30, "the host's event")
            if bus_address:
                wait_for(lambda: len(km.accepted_events()) >= 5, 30, "events to reach KeyManager")
            run_cli("show", "history")
            wait_for(lambda: desktop.find_name("has sent"), 15, "the history window")
            desktop.shot("e2e-04-history-window")

            # Idle: close the windows, let it settle, measure memory.
            for name in ("has sent", "License —"):
                found = desktop.find_name(name)
                if found:
                    desktop.run("xdotool", "windowclose", found, check=False)
            time.sleep(3)
            idle = desktop.shot("e2e-05-tray-idle")
            desktop.run("convert", str(idle), "-crop", "200x40+1080+0", "+repage", "-scale",
                        "400%", str(screenshot_dir() / "e2e-06-tray-closeup.png"), check=False)
            idle_rss = rss_kb(tray.pid)
            cpu_before = sum(int(x) for x in Path(f"/proc/{tray.pid}/stat").read_text()
                             .split()[13:15])
            time.sleep(3)
            cpu_after = sum(int(x) for x in Path(f"/proc/{tray.pid}/stat").read_text()
                            .split()[13:15])
            print(f"\nstart-to-icon {start_to_icon:.2f} s; idle RSS {idle_rss / 1024:.1f} MiB; "
                  f"idle CPU {(cpu_after - cpu_before) / os.sysconf('SC_CLK_TCK') / 3 * 100:.1f}%"
                  f"; screenshots in {screenshot_dir()}")
            (screenshot_dir() / "e2e-measurements.txt").write_text(
                f"start_to_icon_s={start_to_icon:.3f}\nidle_rss_kib={idle_rss}\n")
            assert start_to_icon < 15
            assert tray.poll() is None
        finally:
            terminate(tray)
            shutil.rmtree(sockdir, ignore_errors=True)
        out, err = tray.communicate()
        assert tray.returncode == 0, err
        assert "no system tray" not in out
