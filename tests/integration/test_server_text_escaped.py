"""What a server says reaches the user as text: its control characters are spelled out.

A real loopback server answers with a terminal escape in its error body (retitle the window,
clear the screen); the message kept for ``status`` and ``send`` shows the bytes, never them.
"""

from __future__ import annotations

import json

import pytest

from app.backends.keymanager import KeyManagerBackend
from app.core.wiring import build_companion
from app.model.wire import HttpResponse
from app.storage.config import parse_config
from tests.raw_server import RawServer

pytestmark = pytest.mark.timeout(30)

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\u202e"


def one_answer(response: bytes) -> RawServer:
    """A server that answers every request with the same raw HTTP response."""
    return RawServer(lambda conn: conn.sendall(response))


def test_a_hostile_error_body_is_kept_escaped_for_status(tmp_path):
    body = HOSTILE.encode()
    server = one_answer(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: "
                       + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    config = parse_config(tmp_path / "companion.toml", f"""
[keymanager]
enabled = false
[telemetrydeck]
url = "{server.url}"
app_id = "APP"
timeout = 3
[[consent.category]]
id = "usage"
events = ["feature.*"]
""")
    companion = build_companion(config, tmp_path / "home", environ={}, license_key=lambda: "")
    try:
        companion.grant()
        companion.track("feature.open", kind="number", value=1)
        report = companion.send()["telemetrydeck"]
        last_error = companion.status().backend("telemetrydeck").state.last_error
    finally:
        companion.close()
        server.close()
    for shown in (report.stopped, last_error):
        assert "\\x1b]0;PWNED\\x07\\x1b[2J\\u202e" in shown
        assert not any(ch in shown for ch in "\x1b\x07\u202e")


def test_a_keymanager_message_is_escaped_at_the_source():
    inner = {"code": 400, "message": HOSTILE}
    answer = HttpResponse(400, json.dumps({"response": inner}).encode(),
                          {"content-type": "application/json"})
    outcome = KeyManagerBackend("https://k.example.com", "1", "1", None).interpret(None, answer)
    assert "PWNED" in outcome.message
    assert not any(ch in outcome.message for ch in "\x1b\x07\u202e")
