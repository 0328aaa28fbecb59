"""Consent semantics end to end: real Companion, real SQLite, both loopback receivers."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from app import cli
from app.core.companion import Companion
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.model.consent import Choice
from app.receiver import KeyManagerReceiver
from app.storage.config import load_config
from app.storage.outbox import UNDECIDED_KEEP
from tests.configs import keymanager, telemetrydeck, vendor_config

pytestmark = pytest.mark.timeout(60)

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
IDENTITY = Identity("554dddsqfqs4dqd5qsd74q0123456789", "12135644abcdef0123456789abcdef01",
                    "test", "tester")



@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"}) as rx:
        yield rx


@pytest.fixture()
def write_config(tmp_path, km, td):
    def write(version: int = 1) -> Path:
        path = tmp_path / f"companion-v{version}.toml"
        path.write_text(vendor_config(keymanager=keymanager(km.url, API_KEY),
                                      telemetrydeck=telemetrydeck(td.url, test_mode=True),
                                      consent_version=version), encoding="utf-8")
        return path
    return write


@pytest.fixture()
def home(tmp_path):
    return tmp_path / "state"


def companion_for(config_path: Path, home: Path, environ: dict | None = None) -> Companion:
    return build_companion(load_config(config_path), home, license_key=lambda: LICENSE,
                          identity=lambda: IDENTITY, environ=environ or {})


@pytest.fixture()
def make(write_config, home):
    made: list[Companion] = []

    def factory(version: int = 1, environ: dict | None = None) -> Companion:
        companion = companion_for(write_config(version), home, environ)
        made.append(companion)
        return companion
    yield factory
    for companion in made:
        companion.close()


def km_groups(km) -> list[str]:
    return [e["data_group"] for e in km.accepted_events()]


def td_types(td) -> list[str]:
    return [e["type"] for e in td.accepted_events()]


def test_only_the_granted_category_arrives(make, km, td):
    companion = make()
    for name in ("feature.export", "perf.startup", "feature.import"):
        companion.track(name, kind="number", value=1)
    companion.grant(["usage"])
    _ids, deleted = companion.revoke(["performance"])
    assert deleted == 2  # perf.startup, queued for both backends

    after_denial = companion.track("perf.render", kind="number", value=2)
    assert after_denial.stored is False
    companion.send(force=True)

    assert km_groups(km) == ["feature.export", "feature.import"]
    assert td_types(td) == ["feature.export", "feature.import"]
    assert companion.outbox.counts() == {}
    assert companion.state.counter("discarded:performance") == 1


def test_revoking_mid_queue_deletes_exactly_that_category(make, km, td):
    companion = make()
    companion.grant()
    companion.track("feature.f0", kind="number", value=0)
    companion.send(force=True)  # the queue is in motion: one event already left
    assert km_groups(km) == ["feature.f0"]
    for name in ("feature.f1", "perf.p0", "feature.f2", "perf.p1"):
        companion.track(name, kind="number", value=1)

    _ids, deleted = companion.revoke(["performance"])
    assert deleted == 4  # two events, each queued for two backends
    assert companion.outbox.counts_by_category() == {"usage": 2}
    assert companion.outbox.counts() == {"keymanager": 2, "telemetrydeck": 2}
    companion.send(force=True)

    assert km_groups(km) == ["feature.f0", "feature.f1", "feature.f2"]
    assert td_types(td) == ["feature.f0", "feature.f1", "feature.f2"]


def test_a_consent_version_bump_stops_sending_until_the_user_decides_again(make, km, td):
    first = make(version=1)
    first.grant()
    first.track("feature.before", kind="number", value=1)
    first.send(force=True)
    assert km_groups(km) == ["feature.before"]
    first.close()

    bumped = make(version=2)
    assert bumped.consent.granted() == []
    assert all(s.decision.choice is Choice.UNDECIDED for s in bumped.consent.states())
    result = bumped.track("feature.after", kind="number", value=2)
    assert result.stored is True  # undecided: kept locally so it can be previewed
    reports = bumped.send(force=True)
    assert all(r.requests == 0 for r in reports.values())
    assert km_groups(km) == ["feature.before"]
    assert td_types(td) == ["feature.before"]

    bumped.grant(["usage"])
    bumped.send(force=True)
    assert km_groups(km) == ["feature.before", "feature.after"]
    assert td_types(td) == ["feature.before", "feature.after"]


def test_do_not_track_sends_nothing_whatever_was_granted(make, km, td):
    granted = make()
    granted.grant()
    granted.track("feature.queued", kind="number", value=1)

    dnt = make(environ={"DO_NOT_TRACK": "1"})
    assert dnt.consent.granted() == []
    assert dnt.track("feature.new", kind="number", value=2).stored is False
    dnt.send(force=True)
    assert dnt.send_round() == {}
    previews = dnt.preview()
    assert all(p.requests == [] and not p.will_send for p in previews)
    assert all(len(p.held_requests) == 1 for p in previews)  # shown as "will not be sent"
    assert km.requests == [] and td.requests == []


def test_undecided_events_are_bounded_per_category(make):
    companion = make()
    for i in range(UNDECIDED_KEEP + 3):
        result = companion.track(f"feature.f{i}", kind="number", value=i)
    assert result.held_dropped == 1
    assert companion.outbox.counts_by_category() == {"usage": UNDECIDED_KEEP}
    assert companion.state.counter("held_dropped:usage") == 3
    oldest = companion.outbox.peek("telemetrydeck", 1)[0].event.name
    assert oldest == "feature.f3"  # the three oldest went, for both backends
    assert companion.outbox.counts() == {"keymanager": UNDECIDED_KEEP,
                                         "telemetrydeck": UNDECIDED_KEEP}


def run_cli(capsys, monkeypatch, *argv: str) -> str:
    capsys.readouterr()
    code = cli.main(list(argv), build=functools.partial(
        build_companion, license_key=lambda: LICENSE, identity=lambda: IDENTITY))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_preview_equals_what_the_receivers_record_byte_for_byte(
    make, write_config, home, km, td, capsys, monkeypatch
):
    companion = make()
    companion.grant()
    companion.track("feature.export", kind="number", value=12.5, payload={"format": "pdf"})
    companion.track("perf.window", kind="xy", value=(1024, 768))
    companion.track("feature.search", kind="text", value="Grüße, \"quoted\" & more",
                    payload={"hits": 3, "exact": True})
    config = str(write_config(1))

    masked = run_cli(capsys, monkeypatch, "--home", str(home), "--config", config,
                     "preview", "--json")
    assert LICENSE not in masked and API_KEY not in masked
    previews = {p["backend"]: p for p in json.loads(
        run_cli(capsys, monkeypatch, "--home", str(home), "--config", config,
                "preview", "--json", "--reveal"))}

    companion.send(force=True)
    for backend, receiver in (("keymanager", km), ("telemetrydeck", td)):
        shown = previews[backend]["requests"]
        assert shown, f"{backend}: the preview shows nothing to compare"
        assert previews[backend]["held_requests"] == []
        received = receiver.requests
        assert [r["body"].encode("utf-8") for r in shown] == [r.body for r in received]
        assert [(r["method"], r["url"]) for r in shown] == [
            (r.method, receiver.base_url + r.path) for r in received
        ]
        for preview_request, got in zip(shown, received, strict=True):
            for name, value in preview_request["headers"].items():
                assert got.header(name) == value, (backend, name)
    assert len(km.accepted_events()) == 3 and len(td.accepted_events()) == 3


def test_consent_show_json_counts_discarded_and_waiting(make, write_config, home, capsys,
                                                         monkeypatch):
    companion = make()
    companion.revoke(["performance"])
    companion.track("perf.x", kind="number", value=1)
    companion.track("perf.y", kind="number", value=1)
    companion.track("feature.a", kind="number", value=1)
    data = json.loads(run_cli(capsys, monkeypatch, "--home", str(home), "--config",
                              str(write_config(1)), "consent", "show", "--json"))
    by_id = {c["id"]: c for c in data["categories"]}
    assert by_id["performance"]["discarded_declined"] == 2
    assert by_id["performance"]["choice"] == "denied"
    assert by_id["usage"]["waiting"] == 1
    assert by_id["usage"]["choice"] == "undecided"
    assert data["version_changed"] is False
