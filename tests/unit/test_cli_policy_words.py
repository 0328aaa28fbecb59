"""What ``track``, ``consent``, ``status`` and ``preview`` say under an administrator's policy
and DO_NOT_TRACK (the policy handed to the real wiring; the /etc file itself is in
tests/e2e/test_policy_doctor_cli.py)."""

from __future__ import annotations

import functools
import json

import pytest

from app import cli
from app.core.wiring import build_companion
from app.model.consent import AdminPolicy
from app.storage.policy import parse_policy_text, read_policy_file
from tests.ui.conftest import LICENSE, fixed_identity, write_config

SOURCE = "/etc/license-companion/policy.toml"


@pytest.fixture()
def run(tmp_path, capsys):
    config = write_config(tmp_path / "companion.toml", "http://127.0.0.1:9", "")

    def run(admin: AdminPolicy, *args: str, environ=None) -> tuple[int, str, str]:
        build = functools.partial(build_companion, license_key=lambda: LICENSE,
                                  identity=fixed_identity, environ=environ or {}, admin=admin)
        code = cli.main(["--home", str(tmp_path / "home"), "--config", str(config), *args],
                        build=build)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_no_policy_keeps_the_old_words(run):
    assert run(AdminPolicy(), "consent", "revoke", "usage")[0] == 0
    code, out, _ = run(AdminPolicy(), "track", "feature.x", "--value", "1")
    assert code == 0 and "you declined 'usage'" in out


def test_policy_off_is_said_by_track_and_refuses_a_grant_with_exit_2(run):
    off = parse_policy_text("[telemetry]\nenabled = false\n", SOURCE)
    code, out, _ = run(off, "track", "feature.x", "--value", "1")
    assert code == 0
    assert f"telemetry is off by policy (set by your administrator in {SOURCE})" in out
    code, _, err = run(off, "consent", "grant")
    assert code == 2 and SOURCE in err


def test_a_granted_category_denied_later_is_enforced_and_named(run):
    assert run(AdminPolicy(), "consent", "grant")[0] == 0
    assert run(AdminPolicy(), "track", "feature.x", "--value", "1")[0] == 0
    deny = parse_policy_text('[telemetry]\ndeny = ["usage"]\n', SOURCE)
    code, out, _ = run(deny, "status", "--json")
    data = json.loads(out)
    assert data["backends"]["keymanager"]["queued"] == 1  # a read never deletes
    assert data["backends"]["keymanager"]["dropped_by_reason"] == {}
    run(deny, "send")  # a send applies the policy, once, with its record
    data = json.loads(run(deny, "status", "--json")[1])
    assert data["backends"]["keymanager"]["queued"] == 0
    assert data["backends"]["keymanager"]["dropped"] == 1
    assert data["backends"]["keymanager"]["dropped_by_reason"] == {"policy_denied": 1}
    [entry] = json.loads(run(deny, "history", "--json")[1])
    assert (entry["verdict"], entry["backend"], entry["event_count"]) == ("dropped",
                                                                           "keymanager", 1)
    assert entry["errors"]["reason"] == "policy_denied"
    assert entry["errors"]["by_category"] == {"usage": 1}
    assert data["consent"]["usage"]["decided_by"] == "policy" and data["consent"]["usage"]["locked"]
    assert data["consent"]["performance"]["decided_by"] == "user"
    assert data["policy"]["deny"] == ["usage"]
    code, out, _ = run(deny, "consent", "grant")
    assert code == 0 and "granted: performance" in out and "not granted: usage" in out
    code, out, _ = run(deny, "consent", "show")
    assert "decided by the administrator's policy: denied by policy" in out


def test_do_not_track_is_named_as_the_rule(run):
    _code, out, _ = run(AdminPolicy(), "preview", environ={"DO_NOT_TRACK": "1"})
    assert "usage: denied, decided by DO_NOT_TRACK" in out
    _code, out, _ = run(AdminPolicy(), "status", environ={"DO_NOT_TRACK": "1"})
    assert "usage=denied (DO_NOT_TRACK)" in out


def test_policy_beats_do_not_track(run):
    off = parse_policy_text("[telemetry]\nenabled = false\n", SOURCE)
    _code, out, _ = run(off, "consent", "show", "--json", environ={"DO_NOT_TRACK": "1"})
    assert {c["decided_by"] for c in json.loads(out)["categories"]} == {"policy"}


def test_an_invalid_policy_file_is_a_status_warning(run, tmp_path):
    bad = tmp_path / "policy.toml"
    bad.write_text("[telemetry]\nlocked = 1\n")
    bad.chmod(0o644)
    _code, out, _ = run(read_policy_file(bad), "status", "--json")
    data = json.loads(out)
    assert any(str(bad) in w and "locked" in w for w in data["warnings"])
    assert data["sending"].startswith("telemetry is off")


def test_metered_setting_on_off_and_bad_words(run):
    assert json.loads(run(AdminPolicy(), "consent", "metered", "--json")[1]) == {
        "send_on_metered": False}
    assert "on" in run(AdminPolicy(), "consent", "metered", "on")[1]
    assert json.loads(run(AdminPolicy(), "consent", "metered", "--json")[1]) == {
        "send_on_metered": True}
    code, _, err = run(AdminPolicy(), "consent", "metered", "sometimes")
    assert code == 2 and "metered" in err
