"""No silent drops: every event the companion will not keep is named in the host's answer,
counted in ``status --json`` and written to the history (real door, real SQLite, real CLI)."""

from __future__ import annotations

import json

import pytest

import app.core.intake as intake
from app import cli
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client
from app.door.companion_side import CompanionHost
from app.door.server import HostServer, Limits
from app.storage.config import load_config
from tests.configs import keymanager, telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(120)


def _config(tmp_path, *, backends: bool = True, outbox: str = ""):
    path = write_vendor_config(
        tmp_path / "companion.toml", consent_version=1,
        keymanager=keymanager("http://127.0.0.1:9") if backends else None,
        telemetrydeck=telemetrydeck("http://127.0.0.1:9/v2/") if backends else None)
    if outbox:
        path.write_text(path.read_text() + f"\n[outbox]\n{outbox}\n")
    return path


def _companion(path, home):
    return build_companion(load_config(path), home, environ={}, license_key=lambda: "",
                           identity=lambda: Identity("u" * 32, "a" * 32, "test", "tester"))


@pytest.fixture()
def door(tmp_path):
    """``door(backends=, outbox=)`` -> (client, companion, cli runner) on a served door."""
    made = []

    def start(backends: bool = True, outbox: str = ""):
        path = _config(tmp_path, backends=backends, outbox=outbox)
        home = tmp_path / "home"
        comp = _companion(path, home)
        server = HostServer(CompanionHost(comp), tmp_path / "run" / "host.sock",
                            Limits(max_connections=4, watch_interval=0.2))
        server.start()
        made.append((server, comp))

        def run(*args: str) -> str:
            from contextlib import redirect_stdout
            from io import StringIO

            buf = StringIO()
            with redirect_stdout(buf):
                cli.main(["--home", str(home), "--config", str(path), *args],
                         build=lambda *a, **k: _companion(path, home))
            return buf.getvalue()

        return Client(socket_path=server.path, inbox=tmp_path / "unused"), comp, run

    yield start
    for server, comp in made:
        server.stop()
        comp.close()


def _status(run) -> dict:
    return json.loads(run("status", "--json"))["backends"]


def _drops(run) -> list[dict]:
    return [e for e in json.loads(run("history", "--json")) if e["verdict"] == "dropped"]


def test_no_backend_is_answered_not_stored(door):
    client, _comp, run = door(backends=False)
    answer = client.track("feature.a", 1)
    assert (answer["stored"], answer["reason"], answer["backends"]) == (False, "no_backend", {})
    cli_answer = json.loads(run("track", "feature.b", "--value", "1", "--json"))
    assert (cli_answer["stored"], cli_answer["reason"]) == (False, "no_backend")
    assert "[no_backend]" in run("track", "feature.c", "--value", "1")


def test_denied_categories_name_their_rule_per_backend(door):
    client, comp, _run = door()
    comp.revoke(["usage"])
    answer = client.track("feature.a", 1)
    assert answer["stored"] is False and answer["reason"] == "consent_denied"
    assert answer["backends"] == {
        "keymanager": {"stored": False, "reason": "consent_denied"},
        "telemetrydeck": {"stored": False, "reason": "consent_denied"}}


def test_a_full_queue_names_the_event_counts_it_records_it_and_pushes(door):
    client, comp, run = door(outbox="keymanager_cap = 10\ntelemetrydeck_cap = 1000")
    comp.grant()
    client.track_batch([{"name": "perf.p", "value": i} for i in range(2)])
    client.watch()
    batch = client.track_batch([{"name": "feature.a", "value": i} for i in range(12)])
    results = batch["results"]
    # 14 queued for KeyManager, cap 10: the largest category (usage) gives its 4 oldest;
    # the performance events and TelemetryDeck's copies stay.
    assert [r["backends"]["keymanager"] for r in results[:4]] == [
        {"stored": False, "reason": "over_cap"}] * 4
    assert all(r["backends"]["keymanager"]["stored"] for r in results[4:])
    assert all(r["stored"] and r["backends"]["telemetrydeck"]["stored"] for r in results)
    assert comp.outbox.counts_by_category("keymanager") == {"usage": 8, "performance": 2}
    status = _status(run)
    assert status["keymanager"]["dropped"] == 4
    assert status["keymanager"]["dropped_by_reason"] == {"over_cap": 4}
    assert status["telemetrydeck"]["dropped_by_reason"] == {}
    [entry] = _drops(run)
    assert (entry["backend"], entry["event_count"], entry["errors"]["reason"],
            entry["errors"]["by_category"]) == ("keymanager", 4, "over_cap", {"usage": 4})
    # A second overflow is added to the same entry, not a new row per write.
    client.track_batch([{"name": "feature.b", "value": 1}])
    [entry] = _drops(run)
    assert entry["event_count"] == 5
    checks = {c["name"]: c for c in json.loads(run("doctor", "--json"))["checks"]}
    assert "removed unsent: over_cap 5" in checks["keymanager outbox"]["detail"]
    assert "removed unsent" not in checks["telemetrydeck outbox"]["detail"]
    # The watching host is told: the push comes at the next check after the baseline.
    push = None
    for _ in range(50):
        client.wake()
        push = client.next_push(timeout=0.2)
        if push is not None and push["push"] == "drops" and \
                push["drops"]["dropped_by_reason"]["keymanager"]["over_cap"] >= 5:
            break  # (a check that ran before the second overflow may push 4 first)
        client.track_batch([{"name": "feature.c", "value": 1}])
    assert push is not None and push["push"] == "drops"
    assert push["drops"]["dropped_by_reason"]["keymanager"]["over_cap"] >= 5


def test_the_undecided_hold_names_counts_and_records(door, monkeypatch):
    monkeypatch.setattr(intake, "UNDECIDED_KEEP", 3)
    client, _comp, run = door()
    results = client.track_batch([{"name": "feature.a", "value": i} for i in range(5)])["results"]
    assert [(r["stored"], r.get("reason")) for r in results[:2]] == [
        (False, "undecided_full")] * 2
    assert all(r["stored"] for r in results[2:])
    status = _status(run)
    for name in ("keymanager", "telemetrydeck"):
        assert status[name]["dropped_by_reason"] == {"undecided_full": 2}
        assert status[name]["dropped"] == 2
    assert sorted((e["backend"], e["event_count"], e["errors"]["reason"])
                  for e in _drops(run)) == [("keymanager", 2, "undecided_full"),
                                            ("telemetrydeck", 2, "undecided_full")]


def test_a_revoke_is_counted_and_recorded(door):
    client, comp, run = door()
    comp.grant()
    client.track_batch([{"name": "feature.a", "value": i} for i in range(3)])
    run("consent", "revoke", "usage")
    status = _status(run)
    assert status["keymanager"]["queued"] == 0
    assert status["keymanager"]["dropped_by_reason"] == {"consent_revoked": 3}
    assert {e["backend"]: e["event_count"] for e in _drops(run)} == {
        "keymanager": 3, "telemetrydeck": 3}
