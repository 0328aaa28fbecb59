"""The real CLI given a config or key "file" that never ends or never answers: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_naming(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr


@pytest.mark.parametrize("command", [["status"], ["track", "feature.x", "--value", "1"]])
def test_a_fifo_as_config_is_refused_at_once(tmp_path, command):
    fifo = tmp_path / "companion.toml"
    os.mkfifo(fifo)  # nobody ever writes: a blocking open or read would hang forever
    assert_one_line_naming(run("--config", str(fifo), *command), str(fifo), "FIFO")


def test_dev_zero_as_config_is_refused_without_reading_it():
    assert_one_line_naming(run("--config", "/dev/zero", "status"), "/dev/zero", "device")


def test_a_fifo_as_public_key_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "km.pem")
    config = tmp_path / "companion.toml"
    config.write_text('[product]\nid = "1"\n[keymanager]\nurl = "https://k.example.com"\n'
                      'public_key = "km.pem"\n')
    assert_one_line_naming(run("--config", str(config), "status"), "public_key", "km.pem", "FIFO")


def test_dev_zero_as_public_key_is_refused(tmp_path):
    config = tmp_path / "companion.toml"
    config.write_text('[keymanager]\npublic_key = "/dev/zero"\n')
    assert_one_line_naming(run("--config", str(config), "status"), "public_key", "/dev/zero")


def test_a_typo_in_the_config_is_one_line_with_a_suggestion(tmp_path):
    config = tmp_path / "companion.toml"
    config.write_text('[keymanager]\napikey = "secret-value"\n')
    proc = run("--config", str(config), "status")
    assert_one_line_naming(proc, "[keymanager] apikey", "did you mean `api_key`?")
    assert "secret-value" not in proc.stderr
