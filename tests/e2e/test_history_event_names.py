"""``history`` names the events each request carried, plain and ``--json`` (``events``).

The real ``license-companion`` process sends to the real test receivers; the names in the
history are checked against what the receivers got, request by request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.receiver import KeyManagerReceiver, TelemetryDeckReceiver
from tests.configs import CATEGORIES, keymanager, telemetrydeck, vendor_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.keyring]
LICENSE = "AB12-CD34-EF56-GH78"
API_KEY = "5e1f0a3c-77aa-4c1e-9a51-3c0f2bb0e0d1"


@pytest.fixture()
def receivers(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key) as km, \
            TelemetryDeckReceiver() as td:
        yield km, td


@pytest.fixture()
def env(tmp_path, receivers, keyring_env):
    km, td = receivers
    config = tmp_path / "companion.toml"
    config.write_text(vendor_config(
        keymanager=keymanager(km.url, API_KEY, timeout=3),
        telemetrydeck=telemetrydeck(td.url, "APP-1", timeout=3),
        categories=CATEGORIES,
    ))
    environ = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    environ.update(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                   LICENSE_COMPANION_CONFIG=str(config), QT_QPA_PLATFORM="offscreen")
    run(environ, "license", "clear")
    run(environ, "license", "set", stdin=LICENSE + "\n")
    yield environ
    run(environ, "license", "clear")


def run(env, *args, stdin=None):
    proc = subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          text=True, timeout=60, input=stdin)
    assert proc.returncode in (0, 1), f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_history_lists_the_event_names_of_each_request(env, receivers):
    km, td = receivers
    for name in ("feature.export", "feature.export", "feature.import"):
        run(env, "track", name, "--value", "1")
    run(env, "consent", "grant")
    assert run(env, "send").returncode == 0
    history = json.loads(run(env, "history", "--json").stdout)
    km_names = [h["events"] for h in reversed(history) if h["backend"] == "keymanager"]
    # KeyManager: one event a request, in the order they were sent.
    assert km_names == [[e["data_group"]] for e in km.accepted_events()] == [
        ["feature.export"], ["feature.export"], ["feature.import"]]
    (td_entry,) = [h for h in history if h["backend"] == "telemetrydeck"]
    assert td_entry["events"] == [s["type"] for s in td.accepted_events()] == [
        "feature.export", "feature.export", "feature.import"]
    assert td_entry["event_count"] == 3
    plain = run(env, "history").stdout
    td_line = next(line for line in plain.splitlines() if " telemetrydeck " in line)
    assert "3 event(s) (feature.export ×2, feature.import)" in td_line
    km_lines = [line for line in plain.splitlines() if " keymanager " in line]
    assert sum("1 event(s) (feature.import)" in line for line in km_lines) == 1
