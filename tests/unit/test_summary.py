"""The plain summary above the exact requests: ``preview`` and ``consent show``, in the user's
language, counting what the exact requests carry."""

from __future__ import annotations

import functools
import json

import pytest

from app import cli
from app.core.wiring import build_companion
from app.model.consent import AdminPolicy
from app.support import i18n
from tests.ui.conftest import LICENSE, fixed_identity, write_config


@pytest.fixture()
def run(tmp_path, capsys):
    config = write_config(tmp_path / "companion.toml", "http://127.0.0.1:9",
                          "http://localhost:9/v2/")

    def run(*args: str, lang: str = "en") -> tuple[int, str]:
        build = functools.partial(build_companion, license_key=lambda: LICENSE,
                                  identity=fixed_identity, environ={}, admin=AdminPolicy())
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(i18n.OVERRIDE_ENV, lang)
            code = cli.main(["--home", str(tmp_path / "home"), "--config", str(config),
                             *args], build=build)
        i18n.reset()
        return code, capsys.readouterr().out

    return run


def _queue(run) -> None:
    assert run("consent", "grant")[0] == 0
    for args in (["feature.a", "--value", "1"], ["feature.b", "--value", "2"],
                 ["feature.c", "--xy", "1", "2"], ["perf.load", "--text", "slow"]):
        assert run("track", *args)[0] == 0


def _events_in(requests) -> int:
    return sum(r["events"] for r in requests)


def test_summary_counts_what_the_exact_requests_carry(run):
    _queue(run)
    data = {p["backend"]: p for p in json.loads(run("preview", "--json")[1])}
    km, td = data["keymanager"], data["telemetrydeck"]
    assert _events_in(km["requests"]) == 4 and len(km["requests"]) == 4
    assert km["summary"] == (
        "4 events from Test Product go to 127.0.0.1. It holds 2 numbers about Feature usage, "
        "1 pair of numbers about Feature usage, 1 short text about Performance. "
        "It is sent in 4 requests as soon as this computer is online.")
    assert len(td["requests"]) == 1 and _events_in(td["requests"]) == 4
    assert td["summary"].startswith("4 events from Test Product go to localhost.")
    assert td["summary"].endswith("It is sent in 1 request as soon as this computer is online.")


def test_nothing_queued_is_said(run):
    data = json.loads(run("preview", "--json")[1])
    assert {p["summary"] for p in data} == {
        "Nothing from Test Product is waiting to go to 127.0.0.1 now.",
        "Nothing from Test Product is waiting to go to localhost now."}


@pytest.mark.parametrize(("lang", "words"), [("de", "Ereignisse von Test Product"),
                                             ("ja", "Test Product の 4 件のイベント")])
def test_summary_in_the_users_language(run, lang, words):
    _queue(run)
    code, out = run("preview", lang=lang)
    assert code == 0 and words in out
    code, out = run("consent", "show", lang=lang)
    assert code == 0 and words in out
    data = json.loads(run("consent", "show", "--json", lang=lang)[1])
    assert words in data["summary"]["keymanager"]
    assert data["categories"]  # the fields it had are still there
