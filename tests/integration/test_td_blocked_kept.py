"""TelemetryDeck answers that say the setup is wrong (401/403 a refused app ID, 404 no ingest
route at the URL) keep the events: ``status --json`` names the fix, and the events leave only
by the rules that apply to any queued event (the queue cap), never by the answer itself."""

from __future__ import annotations

import functools
import json

import pytest

from app import cli
from app.core.wiring import build_companion
from app.receiver import TelemetryDeckReceiver
from app.receiver.faults import Respond
from tests.ui.conftest import LICENSE, fixed_identity, write_config


@pytest.fixture()
def run(tmp_path, capsys):
    def run_with(url: str, *args: str) -> tuple[int, str]:
        config = write_config(tmp_path / "companion.toml", "", url)
        with config.open("a", encoding="utf-8") as handle:
            handle.write("\n[outbox]\ntelemetrydeck_cap = 10\n")
        build = functools.partial(build_companion, license_key=lambda: LICENSE,
                                  identity=fixed_identity, environ={})
        code = cli.main(["--home", str(tmp_path / "home"), "--config", str(config), *args],
                        build=build)
        return code, capsys.readouterr().out
    return run_with


@pytest.mark.parametrize(("status", "fix"), [
    (401, "check [telemetrydeck] app_id"),
    (403, "check [telemetrydeck] app_id"),
    (404, "check [telemetrydeck] url"),
])
def test_a_setup_answer_keeps_the_events_and_status_names_the_fix(run, status, fix):
    with TelemetryDeckReceiver() as rx:
        rx.script(Respond(status, b"Not Found\n" if status == 404 else b"unknown appID\n"))
        assert run(rx.url, "consent", "grant")[0] == 0
        for i in range(3):
            assert run(rx.url, "track", "feature.export", "--value", str(i))[0] == 0
        run(rx.url, "send")
        td = json.loads(run(rx.url, "status", "--json")[1])["backends"]["telemetrydeck"]
        assert td["queued"] == 3 and td["rejected_total"] == 0
        assert td["blocked"] and f"HTTP {status}" in td["blocked"] and fix in td["blocked"]
        history = json.loads(run(rx.url, "history", "--json")[1])
        verdicts = [e["verdict"] for e in history if e["backend"] == "telemetrydeck"]
        assert verdicts == ["blocked"]
        # Blocked, the queue still obeys its cap: the oldest leave, counted as over the cap.
        for i in range(9):
            run(rx.url, "track", "feature.export", "--value", str(10 + i))
        td = json.loads(run(rx.url, "status", "--json")[1])["backends"]["telemetrydeck"]
        assert td["queued"] == 10 and td["dropped_by_reason"] == {"over_cap": 2}
        assert td["rejected_total"] == 0
        # The route is back (the script is spent): a forced send delivers every kept event.
        run(rx.url, "send")
        td = json.loads(run(rx.url, "status", "--json")[1])["backends"]["telemetrydeck"]
        assert td["queued"] == 0 and td["blocked"] is None
        assert len(rx.accepted_events()) == 10
