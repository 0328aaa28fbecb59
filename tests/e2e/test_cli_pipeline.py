"""The real ``license-companion`` process: track, preview, send, crash, restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives import serialization

from app.receiver import KeyManagerReceiver, TelemetryDeckReceiver
from tests.configs import CATEGORIES, DIAGNOSTICS, keymanager, telemetrydeck, vendor_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.keyring]
LICENSE = "AB12-CD34-EF56-GH78"

API_KEY = "5e1f0a3c-77aa-4c1e-9a51-3c0f2bb0e0d1"


@pytest.fixture()
def receivers(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key) as km, TelemetryDeckReceiver() as td:
        yield km, td


@pytest.fixture()
def env(tmp_path, receivers, signing_key, keyring_env):
    km, td = receivers
    (tmp_path / "km.pem").write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    config = tmp_path / "companion.toml"
    config.write_text(vendor_config(
        product={"version": "2.0.0"},
        keymanager=keymanager(km.url, API_KEY, public_key="km.pem", timeout=3),
        telemetrydeck=telemetrydeck(td.url, "APP-1", timeout=3),
        categories=[*CATEGORIES, DIAGNOSTICS],
    ))
    environ = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    environ.update(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                   LICENSE_COMPANION_CONFIG=str(config), QT_QPA_PLATFORM="offscreen")
    run(environ, "license", "clear")
    run(environ, "license", "set", stdin=LICENSE + "\n")
    return environ


def run(env, *args, check=True, stdin=None):
    proc = subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          text=True, timeout=60, input=stdin)
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_track_preview_send_history_status(env, receivers):
    km, td = receivers
    assert "queued" in run(env, "track", "feature.export", "--value", "7",
                           "--payload", "App.format=pdf", "--payload", "App.pages=3").stdout
    run(env, "track", "perf.curve", "--xy", "1", "2.5")
    run(env, "track", "diag.error", "--text", "E42 disk full")
    # Not agreed yet: send sends nothing and says why.
    proc = run(env, "send")
    assert proc.returncode == 1 and "not agreed" in proc.stdout
    assert km.requests == [] and td.requests == []
    run(env, "consent", "grant")
    preview = json.loads(run(env, "preview", "--json", "--reveal").stdout)
    masked = run(env, "preview").stdout
    assert API_KEY not in masked and "5e1f…e0d1" in masked
    proc = run(env, "send")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "outbox empty" in proc.stdout
    # What the receivers got, field by field.
    got = km.accepted_events()
    assert [(e["data_group"], e["data_type"]) for e in got] == [
        ("feature.export", "numeric-single-value"),
        ("perf.curve", "numeric-xy-axis"),
        ("diag.error", "text"),
    ]
    assert got[0]["numeric_data_single_value"] == "7"
    assert (got[1]["numeric_data_x"], got[1]["numeric_data_y"]) == ("1", "2.5")
    assert got[2]["text_data"] == "E42 disk full"
    assert {e["product_version"] for e in got} == {"2.0.0"}
    assert {e["license_key"] for e in got} == {LICENSE}
    signals = td.accepted_events()
    assert signals[0]["payload"] == {"App.format": "pdf", "App.pages": 3, "floatValue": 7.0}
    assert signals[1]["payload"] == {"Value.x": 1.0, "Value.y": 2.5}
    assert signals[2]["payload"] == {"Value.text": "E42 disk full"}
    assert len({s["sessionID"] for s in signals}) == 3  # one CLI process = one session
    # The preview was byte for byte what was sent.
    by_backend = {p["backend"]: p for p in preview}
    assert [r["body"].encode() for r in by_backend["keymanager"]["requests"]] == [
        r.body for r in km.requests]
    assert [r["body"].encode() for r in by_backend["telemetrydeck"]["requests"]] == [
        r.body for r in td.requests]
    history = json.loads(run(env, "history", "--json").stdout)
    assert {(h["backend"], h["verdict"]) for h in history} == {
        ("keymanager", "delivered"), ("telemetrydeck", "delivered")}
    assert {h["signature"] for h in history if h["backend"] == "keymanager"} == {"valid"}
    # Each entry keeps its request as sent, the keys masked by the preview's own masking.
    kept = [h["request"] for h in reversed(history)]
    assert [r["body"].encode() for r in kept if r["backend"] == "telemetrydeck"] == [
        r.body for r in td.requests]
    km_kept = [r["body"] for r in kept if r["backend"] == "keymanager"]
    assert len(km_kept) == 3 and all("AB12%E2%80%A6GH78" in body for body in km_kept)
    assert LICENSE not in json.dumps(history) and API_KEY not in json.dumps(history)
    status = json.loads(run(env, "status", "--json").stdout)
    assert status["backends"]["keymanager"]["queued"] == 0
    assert status["backends"]["telemetrydeck"]["last_success"] is not None


@pytest.mark.parametrize(
    "args,field",
    [
        (["track", "", "--value", "1"], "name"),
        (["track", "feature.x", "--value", "nan"], "value"),
        (["track", "feature.x", "--value", "1", "--payload", "count=3"], "payload.count"),
        (["track", "feature.x", "--value", "1", "--payload", "TelemetryDeck.x=3"],
         "payload.TelemetryDeck.x"),
        (["track", "unknown.event", "--value", "1"], "name"),
        (["track", "feature.x", "--text", "x" * 5000], "value"),
    ],
)
def test_bad_events_get_a_clear_error_and_nothing_is_stored(env, args, field):
    proc = run(env, *args, check=False)
    assert proc.returncode == 2
    assert f"error: {field}:" in proc.stderr
    status = json.loads(run(env, "status", "--json").stdout)
    assert all(b.get("queued", 0) == 0 for b in status["backends"].values())


@pytest.mark.parametrize(
    "content,expected",
    [
        (None, "file not found"),
        ("[product\nname=", "is not valid TOML"),
        ('[keymanager]\nurl = "http://example.com"\napi_key="k"\n[product]\nid="1"',
         "[keymanager] url: plain http is allowed only"),
        ("[telemetrydeck]\ntest_mode = \"yes\"", "[telemetrydeck] test_mode: must be true or false"),
        ('[keymanager]\npublic_key = "missing.pem"', "[keymanager] public_key: cannot read"),
    ],
)
def test_bad_config_is_one_clear_line_and_exit_2(env, tmp_path, content, expected):
    path = tmp_path / "bad.toml"
    if content is not None:
        path.write_text(content)
    proc = run(env, "--config", str(path), "status", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path.name) in lines[0] and expected in lines[0], lines


def test_embedded_default_works_out_of_the_box(tmp_path, keyring_env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("LICENSE_COMPANION_CONFIG", "DO_NOT_TRACK")}
    environ["LICENSE_COMPANION_HOME"] = str(tmp_path / "home")
    run(environ, "consent", "grant")
    run(environ, "track", "feature.export", "--value", "1")
    proc = run(environ, "send")
    assert proc.returncode == 1 and "not configured" in proc.stdout
    status = json.loads(run(environ, "status", "--json").stdout)
    assert status["backends"]["keymanager"]["queued"] == 1
    assert "not configured" in status["backends"]["telemetrydeck"]["problem"]


def test_sigkill_in_the_middle_of_a_send_loses_nothing(env, receivers):
    km, td = receivers
    run(env, "consent", "grant")
    for i in range(12):
        run(env, "track", "feature.export", "--value", str(i))
    km.slow = 0.3
    proc = subprocess.Popen([sys.executable, "-m", "app", "send"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert km.wait_for_requests(4, timeout=30, finished=False)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = {e["numeric_data_single_value"] for e in km.accepted_events()}
    assert 0 < len(partial) < 12
    km.slow = 0
    # The killed process held the send lease; a restart waits for it to expire, never sends
    # two requests at once, and then delivers the rest.
    deadline = time.time() + 90
    while time.time() < deadline:
        proc2 = run(env, "send")
        if proc2.returncode == 0:
            break
        time.sleep(1)
    values = {e["numeric_data_single_value"] for e in km.accepted_events()}
    assert values == {str(i) for i in range(12)}, "an event was lost"
    assert {s["payload"]["floatValue"] for s in td.accepted_events()} == {float(i) for i in range(12)}


def test_receiver_command_serves_and_prints_its_url(tmp_path):
    pem = tmp_path / "pub.pem"
    proc = subprocess.Popen([sys.executable, "-m", "app", "receiver", "keymanager", "--port", "0",
                             "--public-key-out", str(pem)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        assert pem.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert proc.returncode == 0


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "app", "--version"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("license-companion ")




def test_a_public_key_that_is_not_rsa_is_a_config_error(env, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "ec.pem").write_bytes(pem)
    config = tmp_path / "ec.toml"
    config.write_text('[product]\nid = "1"\n[keymanager]\nurl = "https://k.example.com"\n'
                      'api_key = "k"\npublic_key = "ec.pem"\n')
    proc = run(env, "--config", str(config), "status", check=False)
    assert proc.returncode == 2
    assert "[keymanager] public_key" in proc.stderr and "RSA" in proc.stderr
