"""A plain (not editable) install of the wheel runs the README's offline demo.

The wheel is built from a copy of the sources (so the checkout gets no ``build/``), installed
with ``--no-deps`` into a fresh venv that reaches the already-installed dependencies through a
``.pth`` line (a listed folder's own ``.pth`` files are not read, so the checkout's editable
install stays out of it), and every command then runs from that venv, away from the checkout:
a package missing from the wheel fails here as it would for a user.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

from tests.configs import telemetrydeck, write_vendor_config
from tests.procs import terminate

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("app", "resources", "pyproject.toml", "setup.py", "README.md")


def build_wheel(work: Path) -> Path:
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = work / "wheel"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                             "--disable-pip-version-check", "-w", str(out), str(src)],
                            capture_output=True, text=True, timeout=120, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("license_companion-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    site = Path(subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=30).stdout.strip())
    # The dependencies already installed for the tests, as a plain path (no .pth of theirs).
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "installed-deps.pth").write_text("\n".join(sorted(deps)) + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                             "install", "-q", "--no-deps", "--no-index",
                             "--disable-pip-version-check", str(wheel)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def reader(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_the_installed_wheel_runs_the_readme_offline_demo(tmp_path, keyring_env):
    site = install(build_wheel(tmp_path), tmp_path / "venv")
    bin_dir = tmp_path / "venv" / "bin"
    env = keyring_env.client_env()
    for name in ("PYTHONPATH", "LICENSE_COMPANION_CONFIG", "LICENSE_COMPANION_HOME",
                 "DO_NOT_TRACK"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    where = subprocess.run([bin_dir / "python", "-c", "import app.receiver; print(app.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site)  # the wheel's copy, not the checkout

    receiver = subprocess.Popen([bin_dir / "license-companion", "receiver", "telemetrydeck"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=tmp_path)
    try:
        lines = reader(receiver)
        banner = lines.get(timeout=60)
        assert banner and "telemetrydeck receiver listening on http://127.0.0.1:" in banner, (
            banner, receiver.stderr.read() if banner is None and receiver.stderr else "")
        url = banner.split("listening on ")[1].split()[0]
        config = write_vendor_config(
            tmp_path / "companion.toml", product={"name": "Demo", "id": "1", "version": "1.0.0"},
            telemetrydeck=telemetrydeck(url, "DEMO-APP", "demo-salt"), categories=())
        env.update(LICENSE_COMPANION_CONFIG=str(config),
                   LICENSE_COMPANION_HOME=str(tmp_path / "lc-demo"))

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([bin_dir / "license-companion", *args], capture_output=True,
                                  text=True, env=env, cwd=tmp_path, timeout=60)

        for args in (("track", "feature.export", "--value", "3", "--payload", "App.format=pdf"),
                     ("consent", "grant"), ("send",)):
            result = cli(*args)
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        seen = lines.get(timeout=30)
        assert seen is not None and "telemetrydeck feature.export -> accepted 1 signal" in seen
        assert seen.endswith("[HTTP 200]")
        history = cli("history")
        assert history.returncode == 0, history.stderr
        assert "telemetrydeck    1 event(s) (feature.export) [usage]  delivered  HTTP 200" in history.stdout
    finally:
        terminate(receiver)
