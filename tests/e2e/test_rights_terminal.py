"""``identity reset`` and ``forget`` in a real terminal: the real ``python -m app`` process on a
pseudo-terminal asks first, and only "yes" changes anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.identity import read_machine_id
from app.receiver import TelemetryDeckReceiver
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal"),
              pytest.mark.skipif(read_machine_id() is None,
                                 reason="no OS machine id: the identifier would need the keyring")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def env(tmp_path):
    with TelemetryDeckReceiver() as rx:
        config = write_vendor_config(tmp_path / "companion.toml",
                                     product={"privacy_contact": "https://vendor.example/privacy"},
                                     telemetrydeck=telemetrydeck(rx.url))
        yield {**os.environ, "LICENSE_COMPANION_HOME": str(tmp_path / "home"),
               "LICENSE_COMPANION_CONFIG": str(config), "LICENSE_COMPANION_LANGUAGE": "en"}


def on_terminal(env: dict, answer: str, *argv: str) -> tuple[int, str]:
    """Run ``argv`` with its standard input and output on a pseudo-terminal, answer the
    question with ``answer``; its exit code and everything it wrote."""
    import pty

    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "app", *argv], stdin=child, stdout=child,
                            stderr=child, env=env, cwd=ROOT, close_fds=True)
    os.close(child)
    seen = b""
    try:
        while b"Type yes" not in seen:
            chunk = os.read(main, 4096)
            if not chunk:
                break
            seen += chunk
        os.write(main, answer.encode() + b"\n")
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        return proc.wait(60), seen.decode("utf-8", "replace")
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()


def status(env: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "app", "status", "--json"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return json.loads(done.stdout)


def test_only_yes_on_the_terminal_resets(env):
    code, said = on_terminal(env, "no", "identity", "reset")
    assert code == 2 and "new user identifier is sent" in said and "Nothing was changed" in said
    assert status(env)["identifier_reset_at"] is None
    code, said = on_terminal(env, "yes", "identity", "reset")
    assert code == 0 and "Identifier reset" in said, said
    assert status(env)["identifier_reset_at"] is not None


def test_forget_on_the_terminal_says_what_it_cannot_do(env):
    code, said = on_terminal(env, "yes", "forget")
    assert code == 0, said
    assert "export FILE" in said  # offered before, to keep a copy
    assert "https://vendor.example/privacy" in said and "license clear" in said
    assert {c["choice"] for c in status(env)["consent"].values()} == {"denied"}
