"""The History window over real sends to the receivers: table, filters, 831 details, export."""

from __future__ import annotations

import functools
import json

import pytest
from PySide6.QtCore import Qt

from app import cli
from app.core.wiring import build_companion
from app.model.wire import Outcome, Verdict
from app.receiver import KeyManagerReceiver
from app.storage.config import load_config
from app.storage.texts import load_texts
from tests.ui.artifacts import save_screenshot
from tests.ui.conftest import API_KEY, LICENSE, fixed_identity, write_config
from tests.ui.controllers import HistoryController

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def strict_km(signing_key):
    # Knows no license: every event is stored but flagged 831 ("license key is invalid").
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key,
                            check_license_keys=True) as rx:
        yield rx


@pytest.fixture()
def config_path(tmp_path, strict_km, td):
    return write_config(tmp_path / "cfg" / "companion.toml", strict_km.url, td.url,
                        pem=strict_km.public_key_pem)


@pytest.fixture()
def companion(config_path, home):
    companion = build_companion(load_config(config_path), home, license_key=lambda: LICENSE,
                               identity=fixed_identity, environ={})
    companion.grant()
    companion.track("feature.export", kind="number", value=3)
    companion.track("perf.startup", kind="number", value=812)
    companion.send(force=True)
    # A transient failure, as the sender records it, for the filter's sake.
    companion.history_store.record("telemetrydeck", ["usage"], ["e1"],
                                   Outcome(Verdict.RETRY, "HTTP 503: busy", 503))
    yield companion
    companion.close()


@pytest.fixture()
def shown(qtbot, companion):
    controller = HistoryController(companion, texts=load_texts("en"))
    qtbot.addWidget(controller.window)
    controller.show()
    qtbot.waitExposed(controller.window)
    return controller


def column(window, name: str) -> list[str]:
    from app.tray.history_window import COLUMNS

    index = COLUMNS.index(name)
    return [window.table.item(row, index).text() for row in range(window.table.rowCount())
            if not window.table.isRowHidden(row)]


def test_table_shows_every_request_with_outcome_and_signature(shown):
    window = shown.window
    assert window.table.rowCount() == 4  # 2 KeyManager, 1 TelemetryDeck, 1 retry
    outcomes = column(window, "outcome")
    assert outcomes.count("flagged by the server (831)") == 2
    assert outcomes.count("delivered") == 1 and outcomes.count("will retry") == 1
    km_rows = [s for b, s in zip(column(window, "backend"), column(window, "signature"),
                                 strict=True) if b == "keymanager"]
    assert km_rows == ["valid", "valid"]
    assert "200 / 831" in column(window, "http")
    save_screenshot(window, "history")


def test_filters_by_backend_and_outcome(shown):
    window = shown.window
    window.backend_filter.setCurrentIndex(window.backend_filter.findData("telemetrydeck"))
    assert set(column(window, "backend")) == {"telemetrydeck"}
    assert len(window.visible_entries()) == 2
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("retry"))
    # The HTTP status is its own column: the message does not repeat it.
    assert column(window, "message") == ["busy"] and column(window, "http") == ["503"]
    window.backend_filter.setCurrentIndex(0)
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("flagged"))
    assert column(window, "backend") == ["keymanager", "keymanager"]
    save_screenshot(window, "history-filtered-flagged")


def test_details_show_the_server_errors_of_an_831(qtbot, shown):
    window = shown.window
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("flagged"))
    text = window.details.toPlainText()
    assert "Server errors:" in text
    assert "The selected license key is invalid." in text
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("delivered"))
    assert "No errors reported by the server." in window.details.toPlainText()


def test_details_show_the_request_as_it_was_sent_with_the_keys_masked(qtbot, shown, companion):
    window = shown.window
    window.backend_filter.setCurrentIndex(window.backend_filter.findData("keymanager"))
    text = window.details.toPlainText()
    (sent,) = [e.request for e in companion.history() if e.id == window.visible_entries()[0].id]
    assert "The request as it was sent" in text
    assert f"POST {sent.url}" in text and "User-Agent: " in text
    assert "license_key = " in text and "api_key = " in text
    assert LICENSE not in text and API_KEY not in text
    window.backend_filter.setCurrentIndex(0)
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("retry"))
    assert "The request itself was not kept" in window.details.toPlainText()


def test_refresh_asks_the_owner_and_shows_new_entries(qtbot, shown, companion):
    companion.history_store.record("keymanager", ["usage"], ["e2"],
                                   Outcome(Verdict.REJECTED, "HTTP 400", 400))
    with qtbot.waitSignal(shown.window.refreshWanted, timeout=2000):
        qtbot.mouseClick(shown.window.refresh_button, Qt.MouseButton.LeftButton)
    assert shown.window.table.rowCount() == 5
    assert column(shown.window, "outcome")[0] == "rejected"


def test_export_writes_exactly_what_history_json_prints(qtbot, shown, config_path, home,
                                                        tmp_path, capsys, monkeypatch):
    target = tmp_path / "export.json"
    window = shown.window
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("retry"))
    window.ask_export_path = lambda: str(target)
    qtbot.mouseClick(window.export_button, Qt.MouseButton.LeftButton)
    assert "Saved 4 entries" in window.status_label.text()

    capsys.readouterr()
    build = functools.partial(build_companion, license_key=lambda: LICENSE,
                              identity=fixed_identity)
    assert cli.main(["--home", str(home), "--config", str(config_path), "history", "--json"],
                    build=build) == 0
    printed = capsys.readouterr().out
    assert target.read_text(encoding="utf-8") == printed
    data = json.loads(printed)
    assert [d["outcome"] for d in data].count("flagged by the server (831)") == 2
    assert LICENSE not in printed and API_KEY not in printed


def test_export_failure_is_reported_not_raised(qtbot, shown, tmp_path):
    shown.window.ask_export_path = lambda: str(tmp_path / "missing-dir" / "x.json")
    qtbot.mouseClick(shown.window.export_button, Qt.MouseButton.LeftButton)
    assert "Could not save" in shown.window.status_label.text()


def test_empty_history_says_so(qtbot, home, config_path):
    controller = HistoryController(
        build_companion(load_config(config_path), home, environ={}), texts=load_texts("en"))
    qtbot.addWidget(controller.window)
    controller.show()
    assert controller.window.empty_label.isVisible()
    assert controller.window.table.rowCount() == 0
    save_screenshot(controller.window, "history-empty")
    controller.companion.close()


def test_dates_are_iso_and_never_ambiguous(shown):
    import re

    times = column(shown.window, "time")
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in times)



def test_each_row_names_the_events_of_its_request(shown):
    window = shown.window
    rows = list(zip(column(window, "backend"), column(window, "events"), strict=True))
    # KeyManager: one request per event; TelemetryDeck: both in one request.
    assert sorted(e for b, e in rows if b == "keymanager") == [
        "1: feature.export", "1: perf.startup"]
    assert ("telemetrydeck", "2: feature.export, perf.startup") in rows
    assert ("telemetrydeck", "1") in rows  # an entry recorded without names: its count alone
    window.backend_filter.setCurrentIndex(window.backend_filter.findData("telemetrydeck"))
    window.outcome_filter.setCurrentIndex(window.outcome_filter.findData("delivered"))
    assert "2: feature.export, perf.startup" in window.details.toPlainText()
