"""The tray icon and tooltip, ``status --json`` and ``doctor --json`` say the same, state by state.

A real worker and tray icon (offscreen), the real ``python -m app`` process for ``status`` and
``doctor``, the private Secret Service and the KeyManager test receiver. The tray checks the
license at start; every state is reached the way a user reaches it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app.core.tray_state import Level
from app.core.wiring import build_companion, license_of
from app.model.errors import NO_KEY_REASON
from app.receiver import KeyManagerReceiver, License
from app.storage.config import load_config
from tests.configs import API_KEY, keymanager, write_vendor_config

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
UNKNOWN_LICENSE = "XK7P-99QZ-AB12-77TT"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Setup:
    """One product (its own keyring entry), its state directory and its CLI."""

    def __init__(self, tmp_path: Path, env: dict[str, str], url: str, pem: bytes | None):
        self.home = tmp_path / "home"
        self.config_path = write_vendor_config(
            tmp_path / "cfg" / "companion.toml", pem=pem,
            product={"id": f"truth-{uuid.uuid4().hex[:8]}", "version": "1.0"},
            keymanager=keymanager(url, API_KEY, timeout=2), categories=[
                {"id": "usage", "title": "Usage", "events": ["feature.*"]}])
        self.config = load_config(self.config_path)
        self.env = dict(env, PYTHONPATH=str(ROOT))

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", "--home", str(self.home),
                               "--config", str(self.config_path), *args], input=stdin,
                              text=True, capture_output=True, timeout=60, env=self.env, cwd=ROOT)

    def factory(self):
        def build():
            return build_companion(self.config, self.home, keyring_timeout=5)
        build.config = self.config
        return build


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key,
                            licenses={LICENSE: License(max_activations=2)}) as rx:
        yield rx


@pytest.fixture()
def setup_for(tmp_path, keyring_env):
    made: list[Setup] = []

    def make(url: str, pem: bytes | None = None) -> Setup:
        setup = Setup(tmp_path / f"s{len(made)}", keyring_env.client_env(), url, pem)
        made.append(setup)
        return setup

    yield make
    for setup in made:
        setup.cli("license", "clear")


def agree(tray, setup: Setup) -> dict:
    """The tray, ``status --json`` and ``doctor --json`` agree; returns ``status``'s state."""
    snap = tray.snapshot
    status = json.loads(setup.cli("status", "--json").stdout)
    proc = setup.cli("doctor", "--json")
    doctor = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    state = status["state"]
    assert snap.state == state["code"], (snap, state)
    assert snap.level.value == state["level"]
    assert doctor["state"]["detail"].startswith(state["code"] + ":")
    assert (doctor["state"]["verdict"] == "ok") == state["good"] == (snap.level in (
        Level.OK, Level.SENDING))
    assert tray.tray.toolTip().startswith(f"License Companion: {snap.summary}")
    if not state["good"]:
        assert proc.returncode == 1  # sending cannot happen (as it should)
        assert snap.summary.startswith(state["reasons"][0]["title"]) or \
            snap.summary.startswith("Not sending")
    return state


def start_tray(qtbot, tray_for, setup: Setup):
    tray = tray_for(setup.factory(), interval=0.2, license_factory=license_of)
    ctl = tray.controller
    qtbot.waitUntil(lambda: ctl.snapshot.state != "license-not-checked", timeout=15_000)
    return tray


def settle(qtbot, tray, code: str) -> None:
    qtbot.waitUntil(lambda: tray.snapshot.state == code, timeout=15_000)
    tray.update_state(tray.controller.snapshot)


def track(setup: Setup) -> None:
    assert setup.cli("track", "feature.export", "--value", "1").returncode == 0


def test_all_good_only_when_the_license_is_valid_and_everything_went(qtbot, km, setup_for,
                                                                    tray_for):
    setup = setup_for(km.base_url, km.public_key_pem)
    assert setup.cli("license", "set", stdin=LICENSE + "\n").returncode == 0
    assert setup.cli("license", "activate").returncode == 0
    assert setup.cli("consent", "grant").returncode == 0
    track(setup)
    tray = start_tray(qtbot, tray_for, setup)
    settle(qtbot, tray, "ok")
    qtbot.waitUntil(lambda: tray.snapshot.queued == 0, timeout=15_000)
    assert tray.snapshot.level is Level.OK
    assert agree(tray, setup)["good"] is True
    assert [e["data_group"] for e in km.accepted_events()] == ["feature.export"]


def test_waiting_for_consent_and_paused(qtbot, km, setup_for, tray_for):
    setup = setup_for(km.base_url, km.public_key_pem)
    assert setup.cli("license", "set", stdin=LICENSE + "\n").returncode == 0
    assert setup.cli("license", "activate").returncode == 0
    track(setup)
    tray = start_tray(qtbot, tray_for, setup)
    settle(qtbot, tray, "waiting-for-consent")
    state = agree(tray, setup)
    assert state["level"] == "attention" and "1 event waits" in state["reasons"][0]["detail"]

    assert setup.cli("consent", "grant").returncode == 0
    with qtbot.waitSignal(tray.controller.stateChanged, check_params_cb=lambda s: s.paused):
        tray.controller.set_paused(True)
    settle(qtbot, tray, "paused")
    state = agree(tray, setup)
    assert state["level"] == "paused"
    status = json.loads(setup.cli("status", "--json").stdout)
    assert status["paused"] is True and status["sending"].startswith("paused in the tray")


def test_no_license_key_waits_and_nothing_reaches_keymanager(qtbot, km, setup_for, tray_for):
    setup = setup_for(km.base_url, km.public_key_pem)
    assert setup.cli("consent", "grant").returncode == 0
    track(setup)
    tray = start_tray(qtbot, tray_for, setup)
    settle(qtbot, tray, "no-license-key")
    state = agree(tray, setup)
    status = json.loads(setup.cli("status", "--json").stdout)
    assert status["backends"]["keymanager"]["waiting_because"] == NO_KEY_REASON
    assert status["backends"]["keymanager"]["queued"] == 1
    assert "license set" in state["reasons"][0]["fix"]
    assert setup.cli("send").returncode == 1  # the CLI path too: the event stays
    # Not one request without a key, telemetry or license (doctor's probes are bodiless GETs).
    assert [r for r in km.requests if r.method != "GET"] == []


def test_a_dead_server_is_not_all_good(qtbot, setup_for, tray_for):
    setup = setup_for(f"http://127.0.0.1:{closed_port()}")
    assert setup.cli("license", "set", stdin=LICENSE + "\n").returncode == 0
    assert setup.cli("consent", "grant").returncode == 0
    track(setup)
    tray = start_tray(qtbot, tray_for, setup)
    settle(qtbot, tray, "server-failing")
    state = agree(tray, setup)
    assert "KeyManager" in state["reasons"][0]["detail"]
    assert any(r["code"] == "license-unknown" for r in state["reasons"])


def test_an_invalid_license_is_said_at_start(qtbot, km, setup_for, tray_for):
    setup = setup_for(km.base_url, km.public_key_pem)
    assert setup.cli("license", "set", stdin=UNKNOWN_LICENSE + "\n").returncode == 0
    assert setup.cli("consent", "grant").returncode == 0
    tray = start_tray(qtbot, tray_for, setup)  # the tray's own check at start
    settle(qtbot, tray, "license-invalid")
    assert agree(tray, setup)["level"] == "attention"
