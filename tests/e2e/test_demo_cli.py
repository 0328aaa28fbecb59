"""``license-companion demo``: the real process, its own receivers, the private keyring.

``--no-tray`` runs the whole flow and ends with ``history``; the tray (offscreen) ends on
SIGTERM. Either way the receivers stop and the demo's folder and keyring entry are gone.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.cli.demo import PRODUCT_ID, PRODUCT_NAME
from app.storage.keyring.license_store import LicenseStore
from tests.procs import wait_for

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[2]


def demo_env(keyring_env, tmp_path: Path) -> dict[str, str]:
    env = keyring_env.client_env()
    env.update(PYTHONPATH=str(REPO), TMPDIR=str(tmp_path / "tmp"), PYTHONUNBUFFERED="1",
               LICENSE_COMPANION_HOME=str(tmp_path / "real-state"), QT_QPA_PLATFORM="offscreen")
    env.pop("DO_NOT_TRACK", None)
    env.pop("LICENSE_COMPANION_CONFIG", None)
    (tmp_path / "tmp").mkdir()
    return env


def demo_key() -> str:
    return LicenseStore(LicenseStore.service_name(PRODUCT_ID, PRODUCT_NAME)).get()


def test_no_tray_runs_the_whole_flow_and_leaves_nothing(keyring_env, tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "demo", "--no-tray"], cwd=REPO,
                            env=demo_env(keyring_env, tmp_path), capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("keymanager receiver listening on http://127.0.0.1:")
               for line in lines)
    assert any(line.startswith("telemetrydeck receiver listening on http://127.0.0.1:")
               for line in lines)
    assert "demo: consent granted for the demo: usage, performance, diagnostics" in lines
    # The receivers' live lines: every example event reached both backends.
    assert any(" telemetrydeck " in line and "-> accepted 6 signals [HTTP 200]" in line
               for line in lines), result.stdout
    km_lines = [line for line in lines if " keymanager " in line and "[HTTP " in line]
    assert len(km_lines) == 6 and all("[HTTP 200]" in line for line in km_lines), km_lines
    assert "keymanager: 6 request(s), 6 delivered, 0 flagged by the server, 0 rejected" in lines
    assert "outbox empty" in lines
    history = [line for line in lines if "  delivered  HTTP 200" in line]
    km_history = [line for line in history if " keymanager " in line]
    # Signed with the demo's fresh key and checked against the public key it wrote.
    assert len(km_history) == 6 and all(line.endswith("; signature valid") for line in km_history)
    assert sum(" telemetrydeck " in line for line in history) == 1
    assert lines[-1] == "demo: receivers stopped, demo state and demo license key removed"
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "real-state").exists()  # the user's own state is never touched
    assert demo_key() == ""


def test_keep_leaves_the_state_to_look_at(keyring_env, tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "demo", "--no-tray", "--keep"],
                            cwd=REPO, env=demo_env(keyring_env, tmp_path), capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "tmp").iterdir()
    assert (folder / "state" / "companion.db").is_file()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "companion.toml").stat().st_mode & 0o777) == "0o600"
    assert demo_key() != ""
    LicenseStore(LicenseStore.service_name(PRODUCT_ID, PRODUCT_NAME)).clear()


def test_the_tray_demo_stops_everything_on_sigterm(keyring_env, tmp_path):
    env = demo_env(keyring_env, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "app", "demo"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    try:
        while (line := lines.get(timeout=60)) is not None:
            seen.append(line)
            if line.startswith("demo: the tray starts"):
                break
        assert seen and seen[-1].startswith("demo: the tray starts"), seen
        (folder,) = (tmp_path / "tmp").iterdir()
        # The tray took its lock in the demo's state directory: it is running there.
        wait_for(lambda: any((folder / "state").glob("*.lock")) or
                 (folder / "state" / "logs" / "companion.log").is_file(), 30, "the tray")
        # Allowing a category (as the consent window does) makes the tray deliver it.
        granted = subprocess.run(
            [sys.executable, "-m", "app", "--home", str(folder / "state"), "--config",
             str(folder / "companion.toml"), "consent", "grant", "usage"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert granted.returncode == 0, granted.stderr
        while (line := lines.get(timeout=60)) is not None:
            if " telemetrydeck " in line and "[HTTP" in line:
                break
        assert line is not None
        assert "telemetrydeck app.started, feature.export -> accepted 2 signals" in line, line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = []
    while (line := lines.get(timeout=10)) is not None:
        rest.append(line)
    assert rest[-1:] == ["demo: receivers stopped, demo state and demo license key removed"], rest
    assert list((tmp_path / "tmp").iterdir()) == []
    assert demo_key() == ""
    assert not (tmp_path / "real-state").exists()
