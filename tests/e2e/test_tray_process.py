"""The real tray process (offscreen, so headless with its worker): one instance, quit and crash.

Each test runs ``python -m app tray`` as a subprocess with its own state directory and a vendor
config pointing at an in-process TelemetryDeck receiver (TelemetryDeck needs no license key, so
no keyring is involved), and checks the outbox and the receiver afterwards: nothing is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config
from tests.procs import terminate, wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
TOTAL = 600


def tray_env(home: Path, config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(LICENSE_COMPANION_HOME=str(home), LICENSE_COMPANION_CONFIG=str(config),
               QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    env.pop("DO_NOT_TRACK", None)
    return env


def start_tray(home: Path, config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "tray", "--send-interval", "0.3", *extra],
        cwd=REPO, env=tray_env(home, config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def log_text(home: Path) -> str:
    try:
        return (home / "logs" / "companion.log").read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""



def fill(home: Path, config: Path, count: int) -> None:
    companion = build_companion(load_config(config), home, identity=fixed_identity)
    try:
        companion.grant(None)
        for i in range(count):
            companion.track("feature.export", kind="number", value=i)
    finally:
        companion.close()


def queued(home: Path, config: Path) -> int:
    companion = build_companion(load_config(config), home, identity=fixed_identity)
    try:
        return sum(companion.outbox.counts().values())
    finally:
        companion.close()


def delivered_values(td) -> set[int]:
    values = set()
    for record in td.requests:
        if record.status == 200 and isinstance(record.form, list):
            values.update(int(signal["payload"]["floatValue"]) for signal in record.form)
    return values


def fixed_identity() -> Identity:
    return Identity("user-id-for-tests-0001", "activation-id-0001", "test", "tester")


@pytest.fixture()
def setup(tmp_path, td):
    """The tray's state directory and a config sending to TelemetryDeck only (no keyring)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # private already: no notice for tightening it
    config = write_vendor_config(tmp_path / "cfg" / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck(td.url, timeout=3))
    return home, config


def stop(proc: subprocess.Popen) -> None:
    terminate(proc)


def test_second_start_says_running_and_exits_0(setup):
    home, config = setup
    first = start_tray(home, config)
    try:
        wait_for(lambda: "worker ready" in log_text(home), 20, "the first tray")
        second = subprocess.run([sys.executable, "-m", "app"], cwd=REPO, env=tray_env(home, config),
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert f"already running (pid {first.pid})" in second.stdout
        assert first.poll() is None  # the first one keeps running
        shown = subprocess.run([sys.executable, "-m", "app", "show", "history"], cwd=REPO,
                               env=tray_env(home, config), capture_output=True, text=True,
                               timeout=30)
        assert shown.returncode == 0 and "shown by the running tray" in shown.stdout
    finally:
        stop(first)
    assert first.returncode == 0


def test_stale_lock_after_kill_9_does_not_block(setup):
    home, config = setup
    first = start_tray(home, config)
    wait_for(lambda: "worker ready" in log_text(home), 20, "the first tray")
    first.kill()
    first.wait()
    assert (home / "tray.lock").exists()  # left behind by the crash
    again = start_tray(home, config)
    try:
        wait_for(lambda: log_text(home).count("worker ready") == 2, 20, "the restarted tray")
        assert again.poll() is None
    finally:
        stop(again)


def test_quit_while_sending_loses_nothing(setup, td):
    home, config = setup
    fill(home, config, TOTAL)
    td.slow = 1.0  # each request of 100 events takes a second
    proc = start_tray(home, config)
    try:
        td.wait_for_requests(1, timeout=30)
        wait_for(lambda: len(td.requests) >= 2, 20, "a request in flight")  # mid-drain
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        took = time.monotonic() - started
    finally:
        stop(proc)
    assert proc.returncode == 0, proc.stderr.read()
    assert took < 8, f"quit took {took:.1f} s"
    delivered = delivered_values(td)
    remaining = queued(home, config)
    assert 0 < len(delivered) < TOTAL and remaining > 0  # really quit in the middle
    assert len(delivered) + remaining >= TOTAL
    td.slow = 0
    again = start_tray(home, config)
    try:
        wait_for(lambda: delivered_values(td) == set(range(TOTAL)), 40, "everything delivered")
        wait_for(lambda: queued(home, config) == 0, 20, "an empty outbox")
    finally:
        stop(again)


def test_kill_9_while_sending_then_restart_loses_nothing(setup, td):
    home, config = setup
    fill(home, config, TOTAL)
    td.slow = 1.0
    proc = start_tray(home, config)
    try:
        wait_for(lambda: len(td.requests) >= 2, 30, "a request in flight")
        proc.kill()  # SIGKILL: no cleanup at all, mid-request
        proc.wait(10)
    finally:
        stop(proc)
    assert len(delivered_values(td)) < TOTAL
    td.slow = 0
    again = start_tray(home, config)
    try:
        wait_for(lambda: delivered_values(td) == set(range(TOTAL)), 60, "everything delivered")
        wait_for(lambda: queued(home, config) == 0, 20, "an empty outbox")
    finally:
        stop(again)
