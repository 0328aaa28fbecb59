"""``[keymanager] without_key``: "wait" keeps KeyManager's events until a key is stored,
"skip" keeps none while there is no key; neither sends a request without one.

The real ``license-companion`` process, the real KeyManager and TelemetryDeck test receivers
and the private Secret Service (tests/conftest.py). Each test has a product id of its own, so
its keyring entry starts empty and its state directory knows nothing about a key yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from app.model.errors import NO_KEY_REASON, NO_KEY_SKIP_REASON
from app.receiver import KeyManagerReceiver, License, TelemetryDeckReceiver
from tests.configs import CATEGORIES, keymanager, telemetrydeck, vendor_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.keyring]
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
API_KEY = "5e1f0a3c-77aa-4c1e-9a51-3c0f2bb0e0d1"


@pytest.fixture()
def receivers(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids=None,
                            licenses={LICENSE: License(max_activations=2)}) as km, \
            TelemetryDeckReceiver() as td:
        yield km, td


@pytest.fixture()
def make_env(tmp_path, receivers, keyring_env):
    km, td = receivers
    made: list[dict[str, str]] = []

    def build(mode: str | None) -> dict[str, str]:
        config = tmp_path / "companion.toml"
        extra = {} if mode is None else {"without_key": mode}
        config.write_text(vendor_config(
            product={"id": f"nokey-{uuid.uuid4().hex[:8]}"},
            keymanager=keymanager(km.url, API_KEY, timeout=3, **extra),
            telemetrydeck=telemetrydeck(td.url, "APP-1", timeout=3),
            categories=CATEGORIES,
        ))
        environ = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
        environ.update(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                       LICENSE_COMPANION_CONFIG=str(config), QT_QPA_PLATFORM="offscreen")
        made.append(environ)
        return environ

    yield build
    for environ in made:
        run(environ, "license", "clear")


def run(env, *args, stdin=None):
    proc = subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          text=True, timeout=60, input=stdin)
    assert proc.returncode in (0, 1), f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def telemetry(km: KeyManagerReceiver) -> list:
    """The telemetry posted (``doctor``'s bodiless GET to the same path carries none)."""
    return [r for r in km.requests
            if r.path.endswith("/send-telemetry-data") and r.method == "POST"]


def km_status(env) -> dict:
    return json.loads(run(env, "status", "--json").stdout)["backends"]["keymanager"]


@pytest.mark.parametrize("mode", [None, "wait"])
def test_wait_keeps_the_events_and_sends_them_once_a_key_is_set(make_env, receivers, mode):
    km, td = receivers
    env = make_env(mode)
    run(env, "consent", "grant")
    answer = json.loads(run(env, "track", "feature.export", "--value", "1", "--json").stdout)
    assert answer["backends"]["keymanager"] == {"stored": True, "reason": None}
    run(env, "send")
    assert telemetry(km) == [] and len(td.accepted_events()) == 1
    status = km_status(env)
    assert status["queued"] == 1 and status["waiting_because"] == NO_KEY_REASON
    run(env, "license", "set", stdin=LICENSE + "\n")
    assert run(env, "send").returncode == 0
    (sent,) = telemetry(km)
    assert sent.form["license_key"] == LICENSE and sent.form["data_group"] == "feature.export"
    assert km_status(env)["queued"] == 0


def test_skip_keeps_nothing_for_keymanager_while_there_is_no_key(make_env, receivers):
    km, td = receivers
    env = make_env("skip")
    run(env, "consent", "grant")
    answer = json.loads(run(env, "track", "feature.export", "--value", "1", "--json").stdout)
    assert answer["stored"] is True  # for TelemetryDeck
    assert answer["backends"] == {"keymanager": {"stored": False, "reason": "no_license_key"},
                                  "telemetrydeck": {"stored": True, "reason": None}}
    plain = run(env, "track", "feature.import", "--value", "2").stdout
    assert "not kept for keymanager: no_license_key" in plain
    status = km_status(env)
    assert status["queued"] == 0 and status["dropped_by_reason"] == {"no_license_key": 2}
    assert status["waiting_because"] == NO_KEY_SKIP_REASON
    assert run(env, "send").returncode == 0  # nothing left queued
    assert telemetry(km) == []
    assert [s["type"] for s in td.accepted_events()] == ["feature.export", "feature.import"]
    history = json.loads(run(env, "history", "--json").stdout)
    (dropped,) = [h for h in history if h["backend"] == "keymanager"]
    assert dropped["verdict"] == "dropped" and dropped["event_count"] == 2
    assert dropped["errors"]["reason"] == "no_license_key"
    doctor = run(env, "doctor").stdout
    assert 'KeyManager: no license key; events for it are skipped (without_key = "skip")' \
        in doctor
    plain_status = run(env, "status").stdout
    assert NO_KEY_SKIP_REASON in plain_status
    # With a key, new events are kept and go; the skipped ones are not sent after all.
    run(env, "license", "set", stdin=LICENSE + "\n")
    answer = json.loads(run(env, "track", "feature.export", "--value", "3", "--json").stdout)
    assert answer["backends"]["keymanager"] == {"stored": True, "reason": None}
    assert run(env, "send").returncode == 0
    (sent,) = telemetry(km)
    assert sent.form["license_key"] == LICENSE and sent.form["numeric_data_single_value"] == "3"
    # Removing the key again: skipped once more, from the next event on.
    run(env, "license", "clear")
    answer = json.loads(run(env, "track", "feature.export", "--value", "4", "--json").stdout)
    assert answer["backends"]["keymanager"]["reason"] == "no_license_key"


def test_a_bad_without_key_is_a_clear_config_error(tmp_path):
    config = tmp_path / "companion.toml"
    config.write_text(vendor_config(
        keymanager=keymanager("http://127.0.0.1:9/", API_KEY, without_key="never")))
    env = {**os.environ, "LICENSE_COMPANION_HOME": str(tmp_path / "home"),
           "LICENSE_COMPANION_CONFIG": str(config)}
    proc = subprocess.run([sys.executable, "-m", "app", "status"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert '[keymanager] without_key: must be "wait" or "skip", got \'never\'' in proc.stderr
