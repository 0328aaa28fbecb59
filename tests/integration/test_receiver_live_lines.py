"""``run_receiver`` prints one line per request it receives, unless told to be quiet."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest
import requests

from app.receiver import (
    ACTIVATE_PATH,
    TELEMETRY_PATH,
    Drop,
    Hang,
    KeyManagerReceiver,
    License,
    Respond,
    TelemetryDeckReceiver,
    request_line,
    run_receiver,
)

pytestmark = pytest.mark.timeout(60)

TD_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
KM_HEADERS = {"Accept": "application/json"}
KM_FIELDS = {
    "api_key": "k", "data_type": "text", "text_data": "t", "product_id": "1",
    "user_identifier": "u", "license_key": "l", "activation_identifier": "a",
    "product_version": "1", "data_group": "feature.export",
}
LINE = re.compile(r"^\d\d:\d\d:\d\d (keymanager|telemetrydeck) (.+) -> (.+) \[(.+)\]$")


def signal(type_="App.started", **payload):
    body = {"appID": "a", "clientUser": "b", "type": type_}
    if payload:
        body["payload"] = payload
    return body


def serve(kind, send, **kwargs):
    """Run the receiver as the command does, call ``send(url)``, stop; the printed lines."""
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(target=run_receiver, args=(kind,),
                              kwargs={"stop": stop, "out": out, **kwargs}, daemon=True)
    thread.start()
    for _ in range(1000):
        if out.getvalue().endswith("\n"):
            break
        threading.Event().wait(0.01)
    first = out.getvalue().strip()
    url = first.split("listening on ")[1].split()[0]
    try:
        send(url)
    finally:
        stop.set()
        thread.join(20)  # close() waits for every handler, so every line is printed by now
    assert not thread.is_alive()
    lines = out.getvalue().splitlines()
    assert lines[0] == first
    return lines[1:]


def test_one_line_per_telemetrydeck_request_with_names_verdict_and_status(tmp_path):
    def send(url):
        body = [signal("App.started"), signal("Export.done")]
        assert requests.post(url, json=body, headers=TD_HEADERS, timeout=10).status_code == 200
        bad = [{"appID": "a", "type": "App.started"}]
        assert requests.post(url, json=bad, headers=TD_HEADERS, timeout=10).status_code == 400

    lines = serve("telemetrydeck", send, public_key_out=tmp_path / "k.pem")
    assert len(lines) == 2, lines
    first, second = (LINE.match(line) for line in lines)
    assert first is not None and second is not None, lines
    assert first.groups() == ("telemetrydeck", "App.started, Export.done", "accepted 2 signals",
                              "HTTP 200")
    assert second.group(3) == "refused: signal[0].clientUser: required"
    assert second.group(4) == "HTTP 400"


def test_a_reserved_payload_key_is_accepted_and_the_line_says_it_was_renamed():
    def send(url):
        body = [signal("App.started", count=3)]
        assert requests.post(url, json=body, headers=TD_HEADERS, timeout=10).status_code == 200

    [line] = serve("telemetrydeck", send)
    assert "accepted 1 signal; signal[0].payload.count: reserved key, stored as _count" in line
    assert line.endswith("[HTTP 200]")


def test_keymanager_lines_name_the_event_and_the_envelope_code(tmp_path):
    def send(url):
        requests.post(url + TELEMETRY_PATH, data=KM_FIELDS, headers=KM_HEADERS, timeout=10)
        partial = {k: v for k, v in KM_FIELDS.items() if k != "product_version"}
        requests.post(url + TELEMETRY_PATH, data=partial, headers=KM_HEADERS, timeout=10)
        requests.post(url + TELEMETRY_PATH, data={**KM_FIELDS, "api_key": "wrong"},
                      headers=KM_HEADERS, timeout=10)

    lines = serve("keymanager", send, api_key="k", public_key_out=tmp_path / "k.pem")
    assert [LINE.match(line).groups()[1:] for line in lines] == [
        ("feature.export", "accepted 830 Correct format data saved", "HTTP 200"),
        ("feature.export", "flagged 831 Incorrect format data saved (product_version)",
         "HTTP 200"),
        ("feature.export", "refused 100 Invalid API key", "HTTP 401"),
    ]


def test_quiet_prints_only_where_it_listens(tmp_path):
    def send(url):
        body = [signal()]
        assert requests.post(url, json=body, headers=TD_HEADERS, timeout=10).status_code == 200

    assert serve("telemetrydeck", send, quiet=True) == []


def test_scripted_faults_and_license_calls_are_said_as_such(signing_key):
    with KeyManagerReceiver(private_key=signing_key, licenses={"L": License()}) as rx:
        rx.script(Respond(503), Drop(), Hang(0.05))
        for _ in range(3):
            try:
                requests.post(rx.url + TELEMETRY_PATH, data=KM_FIELDS, headers=KM_HEADERS,
                              timeout=10)
            except requests.ConnectionError:
                pass
        requests.post(rx.url + ACTIVATE_PATH, headers=KM_HEADERS, timeout=10,
                      data={"api_key": "k", "license_key": "L", "identifier": "i"})
        assert rx.wait_for_requests(4)
        lines = [request_line(rx, rec) for rec in rx.requests]
    assert lines[0].endswith("feature.export -> scripted Respond [HTTP 503]")
    assert lines[1].endswith("feature.export -> dropped (scripted) [no HTTP answer]")
    assert lines[2].endswith("feature.export -> hung (scripted) [no HTTP answer]")
    assert lines[3].endswith("activate -> answered 300 License key activated [HTTP 200]")


def test_control_characters_from_the_request_are_escaped_in_the_line():
    with TelemetryDeckReceiver() as rx:
        body = json.dumps([signal("App.\x1b]0;PWNED\x07started")]).encode()
        requests.post(rx.url, data=body, headers=TD_HEADERS, timeout=10)
        assert rx.wait_for_requests(1)
        line = request_line(rx, rx.requests[0])
    assert "\x1b" not in line and "\x07" not in line
    assert "App.\\x1b]0;PWNED\\x07started" in line


class _GoneReader:
    """A stdout whose reader has gone away, like ``... | head -1`` after its line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        if "\n" in "".join(self.lines):  # the first line is complete: the reader is gone
            raise BrokenPipeError(32, "Broken pipe")
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_closed_output_does_not_stop_the_receiver(capsys):
    out = _GoneReader()
    stop = threading.Event()
    thread = threading.Thread(target=run_receiver, args=("telemetrydeck",),
                              kwargs={"stop": stop, "out": out}, daemon=True)
    thread.start()
    for _ in range(1000):
        if "\n" in "".join(out.lines):
            break
        threading.Event().wait(0.01)
    url = "".join(out.lines).split("listening on ")[1].split()[0]
    try:
        for _ in range(3):  # each answered although no line can be printed
            resp = requests.post(url, json=[signal()], headers=TD_HEADERS, timeout=10)
            assert resp.status_code == 200
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()
    assert "Traceback" not in capsys.readouterr().err  # no handler thread died on the pipe
