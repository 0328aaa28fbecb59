"""The real command line under the real /etc policy file, and ``doctor`` on a healthy and a
broken setup, each as a separate ``python -m app`` process.

The policy tests write ``/etc/license-companion/policy.toml`` and so run only as root (CI does);
the file is removed afterwards and one an administrator already put there is never touched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from app.receiver import KeyManagerReceiver, License
from app.storage.policy import LINUX_POLICY_PATH
from tests.configs import API_KEY, keymanager, telemetrydeck, vendor_config

pytestmark = pytest.mark.timeout(120)
LICENSE = "AB12-CD34-EF56-GH78"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="writes the real /etc/license-companion/policy.toml: needs root")


def run(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, capture_output=True,
                          text=True, timeout=60, input=stdin)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_env(tmp_path, config_text: str) -> dict[str, str]:
    config = tmp_path / "companion.toml"
    config.write_text(config_text)
    environ = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    environ.update(LICENSE_COMPANION_HOME=str(tmp_path / "home"),
                   LICENSE_COMPANION_CONFIG=str(config), QT_QPA_PLATFORM="offscreen")
    return environ


@pytest.fixture()
def td_env(tmp_path, td):
    """A TelemetryDeck-only product (no keyring needed) with both categories granted."""
    env = make_env(tmp_path, vendor_config(telemetrydeck=telemetrydeck(td.url, test_mode=True)))
    assert run(env, "consent", "grant").returncode == 0
    return env


def consent_json(env):
    proc = run(env, "consent", "show", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_root
def test_telemetry_off_by_policy(td_env, etc_policy, td):
    env = td_env
    assert "queued" in run(env, "track", "feature.early", "--value", "1").stdout
    etc_policy("[telemetry]\nenabled = false\n")

    tracked = run(env, "track", "feature.x", "--value", "1")
    assert tracked.returncode == 0
    assert "telemetry is off by policy" in tracked.stdout and str(LINUX_POLICY_PATH) in tracked.stdout
    assert "you declined" not in tracked.stdout

    grant = run(env, "consent", "grant", "usage")
    assert grant.returncode == 2 and str(LINUX_POLICY_PATH) in grant.stderr, grant

    data = consent_json(env)
    assert {c["decided_by"] for c in data["categories"]} == {"policy"}
    assert all(c["locked"] and c["choice"] == "denied" for c in data["categories"])
    assert data["policy"]["source"] == str(LINUX_POLICY_PATH) and not data["policy"]["enabled"]
    assert [c["waiting"] for c in data["categories"]] == [1, 0]  # a read deletes nothing

    status = json.loads(run(env, "status", "--json").stdout)
    assert "off by policy" in status["sending"] and status["consent"]["usage"]["decided_by"] == "policy"
    assert status["policy"]["enabled"] is False
    text = run(env, "status").stdout
    assert "usage=denied (the administrator's policy)" in text and "policy:" in text

    preview = run(env, "preview")
    assert "will NOT send" in preview.stdout and "will send" not in preview.stdout
    assert "off by policy" in preview.stdout and "the administrator's policy" in preview.stdout
    shown = run(env, "consent", "show").stdout
    assert "decided by the administrator's policy" in shown

    run(env, "send")
    assert td.requests == []
    # the send applied the policy: the early event went, counted and in the history
    assert [c["waiting"] for c in consent_json(env)["categories"]] == [0, 0]
    status = json.loads(run(env, "status", "--json").stdout)
    assert status["backends"]["telemetrydeck"]["dropped_by_reason"] == {"policy_denied": 1}


@needs_root
def test_one_category_denied_by_policy(td_env, etc_policy, td):
    env = td_env
    etc_policy('[telemetry]\ndeny = ["usage"]\n')

    tracked = run(env, "track", "feature.x", "--value", "1")
    assert "denied by policy" in tracked.stdout and str(LINUX_POLICY_PATH) in tracked.stdout
    assert "queued" in run(env, "track", "perf.start", "--value", "2").stdout

    grant = run(env, "consent", "grant", "usage")
    assert grant.returncode == 2 and "usage" in grant.stderr
    assert str(LINUX_POLICY_PATH) in grant.stderr
    assert run(env, "consent", "grant", "performance").returncode == 0

    by_id = {c["id"]: c for c in consent_json(env)["categories"]}
    assert by_id["usage"]["decided_by"] == "policy" and by_id["usage"]["locked"]
    assert by_id["performance"]["decided_by"] == "user" and not by_id["performance"]["locked"]

    preview = run(env, "preview")
    assert "usage: denied, decided by the administrator's policy" in preview.stdout
    assert "performance: granted, decided by your choice" in preview.stdout
    assert "will send 1 request(s)" in preview.stdout

    run(env, "send")
    assert [e["type"] for e in td.accepted_events()] == ["perf.start"]


@needs_root
def test_an_invalid_policy_file_is_named_and_telemetry_stays_off(td_env, etc_policy):
    etc_policy("[telemetry]\nenabeld = false\n")
    status = json.loads(run(td_env, "status", "--json").stdout)
    assert status["policy"]["error"] and "enabeld" in status["policy"]["error"]
    assert any(str(LINUX_POLICY_PATH) in w and "enabeld" in w for w in status["warnings"])
    assert status["sending"].startswith("telemetry is off")


# --- doctor, as the support desk runs it ---------------------------------------------------


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"},
                            licenses={LICENSE: License(max_activations=1)}) as rx:
        yield rx


def files(home):
    """Every file with its mtime, but SQLite's -wal/-shm (any reader of a WAL database makes
    them; they hold no data of ours)."""
    return {p: p.stat().st_mtime_ns for p in home.rglob("*")
            if not p.name.endswith(("-wal", "-shm"))}


def doctor(env, *extra):
    proc = run(env, "doctor", *extra)
    report = json.loads(run(env, "doctor", "--json", *extra).stdout)
    return proc, {c["name"]: c for c in report["checks"]}, report


@pytest.mark.keyring
def test_doctor_on_a_healthy_setup_names_only_the_missing_tray(tmp_path, km, td, keyring_env):
    env = make_env(tmp_path, vendor_config(keymanager=keymanager(km.url),
                                           telemetrydeck=telemetrydeck(td.url, test_mode=True)))
    assert run(env, "license", "set", stdin=LICENSE + "\n").returncode == 0
    assert run(env, "license", "activate").returncode == 0  # a seat: the server said valid
    assert run(env, "consent", "grant").returncode == 0
    home = tmp_path / "home"
    before = files(home)
    km.clear()  # the activation above; doctor's own requests from here
    try:
        proc, checks, report = doctor(env)
        print(proc.stdout)
        # Everything sending needs is there, but no tray runs: nothing goes by itself.
        assert proc.returncode == 1, proc.stdout
        assert report["counts"]["fail"] == 0 and report["counts"]["warn"] == 1
        assert checks["tray"]["verdict"] == "warn" and "not running" in checks["tray"]["detail"]
        assert checks["system tray"]["verdict"] == "not-checked"
        assert checks["state"]["verdict"] == "ok" and checks["state"]["detail"].startswith("ok")
        assert checks["license"]["verdict"] == "ok"
        assert checks["license"]["detail"].startswith("valid; last check 20")
        assert "counts as valid offline until" in checks["license"]["detail"]
        assert "a license key is stored" in checks["keyring"]["detail"]
        assert "telemetrydeck HTTP" in checks and "keymanager HTTP" in checks
        assert LICENSE not in proc.stdout and API_KEY not in proc.stdout
        assert files(home) == before  # doctor wrote nothing, not even a log line
        assert {r.method for r in km.requests + td.requests} == {"GET"}  # no telemetry
    finally:
        run(env, "license", "clear")


@pytest.mark.keyring
def test_doctor_on_a_broken_setup_names_each_problem_and_its_fix(tmp_path, td, keyring_env,
                                                                 request):
    dead = f"http://127.0.0.1:{closed_port()}"
    env = make_env(tmp_path, vendor_config(keymanager=keymanager(dead),
                                           telemetrydeck=telemetrydeck(td.url, test_mode=True)))
    if IS_ROOT and not LINUX_POLICY_PATH.exists():
        write = request.getfixturevalue("etc_policy")
        write("[telemetry]\nenabeld = false\n")
    keyring_env.stop_keyring()  # no Secret Service on the bus any more
    proc, checks, report = doctor(env, "--min-free", str(1 << 60))
    print(proc.stdout)
    assert proc.returncode == 1 and report["exit_code"] == 1
    expect = {
        "keyring": "not usable",
        "free space": "MiB free",
        "keymanager TCP": "cannot connect to 127.0.0.1",
    }
    if IS_ROOT:
        expect["policy"] = "enabeld"
    for name, words in expect.items():
        assert checks[name]["verdict"] == "fail" and words in checks[name]["detail"], checks[name]
        assert checks[name]["fix"], checks[name]
    lines = proc.stdout.splitlines()
    for name in expect:
        at = next(i for i, line in enumerate(lines) if line.startswith("FAIL") and f" {name} " in line)
        assert "fix: " in lines[at + 1], lines[at:at + 2]
    assert checks["telemetrydeck HTTP"]["verdict"] == "ok"
