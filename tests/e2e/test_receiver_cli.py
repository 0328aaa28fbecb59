"""``license-companion receiver``: the real command prints one line per request, or none with
``--quiet``."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.procs import terminate

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]
HEADERS = {"Content-Type": "application/json; charset=utf-8"}
BODY = json.dumps([{"appID": "a", "clientUser": "b", "type": "App.started",
                    "payload": {"count": 2}}])


def start(*args: str) -> tuple[subprocess.Popen, queue.Queue]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app", "receiver", "telemetrydeck", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def interrupt(proc: subprocess.Popen) -> int:
    """Ctrl-C, as a vendor stops it: the receiver finishes its requests, then exits 0."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(20)
    finally:
        terminate(proc)


def url_of(first_line: str) -> str:
    assert "telemetrydeck receiver listening on http://127.0.0.1:" in first_line, first_line
    return first_line.split("listening on ")[1].split()[0]


def test_each_request_is_one_line_saying_what_was_stored():
    proc, lines = start()
    try:
        url = url_of(lines.get(timeout=30))
        assert requests.post(url, data=BODY, headers=HEADERS, timeout=10).status_code == 200
        line = lines.get(timeout=10)
    finally:
        terminate(proc)
    assert "telemetrydeck App.started -> accepted 1 signal" in line
    assert "payload.count: reserved key, stored as _count" in line
    assert line.endswith("[HTTP 200]")


def test_quiet_prints_only_the_first_line():
    proc, lines = start("--quiet")
    try:
        url = url_of(lines.get(timeout=30))
        assert requests.post(url, data=BODY, headers=HEADERS, timeout=10).status_code == 200
    finally:
        # Every handler has finished (and would have printed) before the process exits.
        assert interrupt(proc) == 0
    rest = []
    while (line := lines.get(timeout=10)) is not None:
        rest.append(line)
    assert rest == []
