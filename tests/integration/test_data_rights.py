"""``identity reset`` and ``forget`` end to end: the real command line, real SQLite, both
loopback receivers; what the receivers recorded is the proof of what left the machine."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from app import cli
from app.backends.telemetrydeck import client_user
from app.core.identity import Identity
from app.core.rights import reset_identifier
from app.core.wiring import build_companion
from app.receiver import KeyManagerReceiver
from app.storage.config import load_config
from tests.configs import keymanager, telemetrydeck, vendor_config

pytestmark = pytest.mark.timeout(60)

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
IDENTITY = Identity("554dddsqfqs4dqd5qsd74q0123456789", "12135644abcdef0123456789abcdef01",
                    "test", "tester")
CONTACT = "privacy@vendor.example"
SALT = "pepper"


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"}) as rx:
        yield rx


@pytest.fixture()
def config(tmp_path, km, td) -> Path:
    path = tmp_path / "companion.toml"
    path.write_text(vendor_config(product={"privacy_contact": CONTACT},
                                  keymanager=keymanager(km.url, API_KEY),
                                  telemetrydeck=telemetrydeck(td.url, salt=SALT, test_mode=True)),
                    encoding="utf-8")
    return path


BUILD = functools.partial(build_companion, license_key=lambda: LICENSE,
                          identity=lambda: IDENTITY, environ={})


@pytest.fixture()
def run(tmp_path, config, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["--home", str(tmp_path / "home"), "--config", str(config), *args],
                        build=BUILD)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def bodies(*receivers) -> list[str]:
    return [r.body.decode("utf-8", "replace") for rx in receivers for r in rx.requests]


def sent_ids(km, td) -> tuple[set[str], set[str]]:
    """The user identifiers KeyManager got, and the clientUser hashes TelemetryDeck got."""
    users = {r.form["user_identifier"] for r in km.requests}
    clients = {signal["clientUser"] for r in td.requests for signal in r.form}
    return users, clients


def test_after_a_reset_a_new_identifier_is_sent_and_the_old_one_never_again(run, km, td):
    old = IDENTITY.user_identifier
    assert run("consent", "grant")[0] == 0
    for i in range(2):
        assert run("track", "feature.export", "--value", str(i))[0] == 0
    assert run("send")[0] == 0
    assert sent_ids(km, td) == ({old}, {client_user(old, SALT)})
    for i in range(3):  # queued under the old identifier, not sent yet
        run("track", "feature.before-reset", "--value", str(i))
    before = len(km.requests), len(td.requests)

    code, said, err = run("identity", "reset", "--yes")
    assert code == 0, err
    assert "Deleted 3 queued event(s)" in said and CONTACT in said
    assert old not in said
    for i in range(2):
        run("track", "feature.after-reset", "--value", str(i))
    assert run("send")[0] == 0

    shown = json.loads(run("id", "--json")[1])
    new = shown["user_identifier"]
    assert new != old and len(new) == 32 and "identity reset" in shown["sources"]["user_identifier"]
    after_km, after_td = km.requests[before[0]:], td.requests[before[1]:]
    assert after_km and after_td
    assert {r.form["user_identifier"] for r in after_km} == {new}
    assert {s["clientUser"] for r in after_td for s in r.form} == {client_user(new, SALT)}
    later = [r.body.decode() for r in (*after_km, *after_td)]
    assert not any(old in b or client_user(old, SALT) in b for b in later)
    assert "feature.before-reset" not in [e["data_group"] for e in km.accepted_events()]
    assert [e["type"] for e in td.accepted_events()].count("feature.after-reset") == 2
    assert not any("feature.before-reset" in e["type"] for e in td.accepted_events())

    status = json.loads(run("status", "--json")[1])
    assert status["identifier_reset_at"].endswith("Z")
    assert "identifier: reset " in run("status")[1]
    history = json.loads(run("history", "--json")[1])
    resets = [e for e in history if e["verdict"] == "identifier_reset"]
    assert len(resets) == 1 and "identifier reset" in resets[0]["message"]
    assert old not in json.dumps(resets) and new not in json.dumps(resets)
    dropped = [e for e in history if e["verdict"] == "dropped"]
    assert {e["errors"]["reason"] for e in dropped} == {"identity_reset"}

    # a second reset: another identifier again
    assert run("identity", "reset", "--yes")[0] == 0
    third = json.loads(run("id", "--json")[1])["user_identifier"]
    assert third not in (old, new)


def test_without_a_terminal_and_without_yes_nothing_is_reset(run, km, td):
    assert run("consent", "grant")[0] == 0
    run("track", "feature.export", "--value", "1")
    for command in (("identity", "reset"), ("forget",)):
        code, _said, err = run(*command)
        assert code == 2 and "--yes" in err and "Nothing was changed" in err
    status = json.loads(run("status", "--json")[1])
    assert status["identifier_reset_at"] is None
    assert status["backends"]["telemetrydeck"]["queued"] == 1
    assert json.loads(run("id", "--json")[1])["user_identifier"] == IDENTITY.user_identifier


def test_forget_empties_queue_and_history_revokes_consent_and_names_the_contact(run, km, td,
                                                                              tmp_path):
    assert run("consent", "grant")[0] == 0
    run("track", "feature.export", "--value", "1")
    assert run("send")[0] == 0
    run("track", "feature.waiting", "--value", "2")
    assert json.loads(run("history", "--json")[1])
    db = tmp_path / "home" / "companion.db"
    with sqlite3.connect(db) as conn:  # a row kept aside as no longer readable: about them too
        conn.execute("INSERT INTO outbox_quarantine (seq, backend, category, event, problem, at)"
                     " VALUES (999, 'telemetrydeck', 'usage', x'00', 'damaged', 0)")
    sent = len(km.requests), len(td.requests)

    code, said, err = run("forget", "--yes")
    assert code == 0, err
    assert CONTACT in said and "vendor's servers already received" in said
    assert "license clear" in said and IDENTITY.user_identifier not in said

    assert json.loads(run("history", "--json")[1]) == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM outbox_quarantine").fetchone() == (0,)
    status = json.loads(run("status", "--json")[1])
    assert all(b["queued"] == 0 for b in status["backends"].values())
    assert {c["choice"] for c in status["consent"].values()} == {"denied"}
    assert status["identifier_reset_at"] is not None
    run("track", "feature.after", "--value", "3")  # declined: not kept
    run("send")
    assert (len(km.requests), len(td.requests)) == sent  # nothing sent until granted again

    assert run("consent", "grant")[0] == 0
    run("track", "feature.again", "--value", "4")
    assert run("send")[0] == 0
    users, clients = sent_ids(km, td)
    new = json.loads(run("id", "--json")[1])["user_identifier"]
    assert users == {IDENTITY.user_identifier, new}  # the old one only before forget
    assert km.requests[-1].form["user_identifier"] == new
    assert client_user(new, SALT) in clients


def test_a_send_under_way_elsewhere_stops_at_the_reset(config, tmp_path, km, td):
    """The tray's sender is mid-run when the command line resets: its next request does not
    leave with the old identifier, and what the reset deleted is not sent."""
    home = tmp_path / "home"
    tray = BUILD(load_config(config), home)
    cli_side = BUILD(load_config(config), home)
    try:
        tray.grant()
        for i in range(6):
            tray.track(f"feature.f{i}", kind="number", value=i)
        km.slow = 0.4
        reports: list = []
        sending = threading.Thread(target=lambda: reports.append(tray.send(backends=["keymanager"])))
        sending.start()
        assert km.wait_for_requests(1, finished=False)
        reset_identifier(cli_side)
        cli_side.track("feature.new", kind="number", value=9)
        sending.join(30)
        assert not sending.is_alive()
        old = IDENTITY.user_identifier
        # at most the request already in flight when the reset was committed carried it
        assert [r.form["user_identifier"] for r in km.requests].count(old) == 1
        assert "reset" in reports[0]["keymanager"].stopped
        km.slow = 0
        tray.send(backends=["keymanager"])
        new = cli_side.identity().user_identifier
        assert [r.form["user_identifier"] for r in km.requests[1:]] == [new]
        assert [e["data_group"] for e in km.accepted_events()][-1:] == ["feature.new"]
    finally:
        tray.close()
        cli_side.close()


def test_events_after_a_reset_are_in_a_new_session(config, tmp_path, td):
    """A session that began before the reset would tie the new identifier to the old one."""
    home = tmp_path / "home"
    tray = BUILD(load_config(config), home)
    cli_side = BUILD(load_config(config), home)
    try:
        tray.grant()
        tray.track("feature.before", kind="number", value=1)
        tray.send(backends=["telemetrydeck"])
        reset_identifier(cli_side)  # another process
        tray.track("feature.after", kind="number", value=2)
        tray.send(backends=["telemetrydeck"])
        sessions = {s["type"]: s["sessionID"] for s in td.accepted_events()}
        assert sessions["feature.before"] != sessions["feature.after"]
    finally:
        tray.close()
        cli_side.close()
