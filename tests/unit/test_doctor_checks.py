"""doctor's local checks and its two renderings, on real files."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys

import pytest

from app.delivery.network import NetworkState, Reachability
from app.doctor.check import Check, DoctorReport, Verdict
from app.doctor.net import without_credentials
from app.doctor.report import (
    DoctorSetup,
    _bus_socket,
    check_database,
    check_do_not_track,
    check_network,
    check_policy,
    check_session_bus,
    check_state_dir,
    check_tray,
)
from app.model.consent import NO_POLICY, AdminPolicy
from app.storage.db import APPLICATION_ID, SCHEMA_VERSION, Database


def setup_for(tmp_path, **kwargs):
    return DoctorSetup(config=lambda: None, home=tmp_path / "state", admin=NO_POLICY,
                       environ={}, **kwargs)


def test_exit_code_and_renderings():
    report = DoctorReport([Check("a", Verdict.OK, "fine")], title="t")
    assert report.exit_code == 0
    report.checks.append(Check("bb", Verdict.WARN, "hmm", "do this"))
    assert report.exit_code == 1
    report.checks.append(Check("c", Verdict.FAIL, "broken", "do that"))
    text = report.to_text().splitlines()
    assert text[0] == "t"
    assert text[1] == "ok    a   fine"
    assert text[2] == "WARN  bb  hmm" and text[3].strip() == "fix: do this"
    assert text[-1] == "1 ok, 1 warning(s), 1 failed"
    data = json.loads(report.to_json())
    assert data["exit_code"] == 1 and data["counts"] == {"ok": 1, "warn": 1, "fail": 1,
                                                        "not-checked": 0}
    assert data["checks"][2] == {"name": "c", "verdict": "fail", "detail": "broken",
                                 "fix": "do that"}


def test_state_dir_states(tmp_path):
    assert check_state_dir(setup_for(tmp_path))[0].verdict is Verdict.OK  # will be created
    (tmp_path / "state").mkdir()
    assert "is writable" in check_state_dir(setup_for(tmp_path))[0].detail
    assert check_state_dir(setup_for(tmp_path, min_free=1 << 60))[1].verdict is Verdict.FAIL


def test_database_ok_damaged_foreign_and_newer(tmp_path):
    path = tmp_path / "companion.db"
    assert "not created yet" in check_database(path).detail
    db = Database(path)
    db.open()
    db.close()
    ok = check_database(path)
    assert ok.verdict is Verdict.OK and f"schema {SCHEMA_VERSION}" in ok.detail
    assert check_database(path).verdict is Verdict.OK  # read-only: nothing changed

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    assert check_database(garbage).verdict is Verdict.FAIL

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert "another program" in check_database(foreign).detail

    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 99")
    assert "newer" in check_database(newer).detail and check_database(newer).fix


def test_bus_addresses():
    assert _bus_socket("unix:path=/run/user/1000/bus") == "/run/user/1000/bus"
    assert _bus_socket("unix:abstract=/tmp/dbus-x,guid=1") == "\0/tmp/dbus-x"
    assert _bus_socket("tcp:host=localhost,port=1") is None


@pytest.mark.skipif(sys.platform == "win32", reason="the D-Bus session bus is a Unix socket")
def test_session_bus_real_socket(tmp_path):
    path = tmp_path / "bus"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    try:
        env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={path}"}
        setup = DoctorSetup(config=lambda: None, home=tmp_path, admin=NO_POLICY, environ=env,
                            platform="linux")
        assert check_session_bus(setup).verdict is Verdict.OK
    finally:
        server.close()
    assert check_session_bus(setup).verdict is Verdict.FAIL  # nobody listens any more
    setup.environ = {}
    assert check_session_bus(setup).verdict is Verdict.WARN
    setup.platform = "win32"
    assert check_session_bus(setup).verdict is Verdict.OK


def test_tray_policy_dnt_network():
    assert check_tray(None).verdict is Verdict.NOT_CHECKED  # not an "ok"
    assert check_tray(lambda: False).verdict is Verdict.WARN
    assert check_policy(NO_POLICY).detail == "no administrator policy"
    off = AdminPolicy(source="/etc/p.toml", enabled=False)
    assert check_policy(off).verdict is Verdict.OK and "telemetry is off" in check_policy(off).detail
    bad = AdminPolicy(source="/etc/p.toml", enabled=False, locked=True, error="bad key x")
    assert check_policy(bad).verdict is Verdict.FAIL and "bad key x" in check_policy(bad).detail
    assert "set" in check_do_not_track({"DO_NOT_TRACK": "1"}).detail
    assert check_do_not_track({}).detail == "not set"


def test_network_check(tmp_path):
    def net(state, allow=False):
        return check_network(setup_for(tmp_path, network=lambda: state, allow_metered=allow))

    assert net(NetworkState(Reachability.OFFLINE, None, "glib")).verdict is Verdict.WARN
    assert net(NetworkState(Reachability.ONLINE, True, "glib")).verdict is Verdict.WARN
    assert net(NetworkState(Reachability.ONLINE, True, "glib"), allow=True).verdict is Verdict.OK
    unknown = check_network(setup_for(tmp_path))
    assert unknown.verdict is Verdict.OK and "no network information" in unknown.detail


def test_credentials_never_shown():
    assert without_credentials("http://proxy:3128") == "http://proxy:3128"
    shown = without_credentials("http://me:pw@proxy:3128")
    assert "pw" not in shown and "me" not in shown.split("(")[0] and "proxy:3128" in shown
