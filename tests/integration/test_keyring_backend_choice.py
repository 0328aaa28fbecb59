"""The keyring backend is this OS's own store, chosen without importing every other backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.storage.keyring import access as keyring_access

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from app.storage.keyring.access import Keyring
k = Keyring("license-companion:test-choice", timeout=5)
name = k.backend_name()
print(json.dumps({"name": name, "modules": sorted(m for m in sys.modules
                                                  if m.startswith("keyring.backends"))}))
"""


def probe(env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**env, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.keyring
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Secret Service is Linux's")
def test_linux_uses_the_secret_service_and_imports_no_other_backend(keyring_env):
    env = keyring_env.client_env()
    env.pop("PYTHON_KEYRING_BACKEND", None)
    seen = probe(env)
    assert seen["name"] == "SecretService Keyring"
    others = [m for m in seen["modules"] if m.count(".") >= 2
              and m.split(".")[2] not in ("SecretService", "fail")]
    assert others == []  # no macOS, Windows, kwallet, libsecret or chainer module


def test_a_configured_backend_is_left_to_keyring(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    assert keyring_access._platform_backend("linux") is None


def test_an_unknown_platform_is_left_to_keyring(monkeypatch):
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    assert keyring_access._platform_backend("sunos5") is None


def test_without_a_secret_service_keyring_decides_by_its_own_rules(monkeypatch, tmp_path):
    # No session bus at all: the Secret Service's priority check fails, so None (discovery).
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    if not sys.platform.startswith("linux"):
        pytest.skip("the Secret Service is Linux's")
    assert keyring_access._platform_backend("linux") is None
