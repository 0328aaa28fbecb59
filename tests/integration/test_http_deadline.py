"""A total deadline per exchange, against a real loopback server that trickles its answer.

Socket timeouts bound each read; a server sending one byte just before every timeout would hold
a request for ever. Each test's server trickles for far longer than the client's deadline and
records how much it managed to send before the client hung up.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from app.core.wiring import build_companion
from app.delivery.http import HttpClient, TransportError
from app.model.wire import PreparedRequest
from app.storage.config import parse_config
from tests.raw_server import RawServer

pytestmark = pytest.mark.timeout(60)

TRICKLE_EVERY = 0.2  # far below the per-read timeout: no single read ever times out
FULL_BODY = b"x" * 200  # 40 s at one byte per TRICKLE_EVERY


class Trickler(RawServer):
    """Answers every connection with ``head`` then ``body``, one byte at a time.

    Attributes:
        hung_up: set when the client closed the connection before everything was sent.
        sent: bytes sent on the last connection.
        started: set when a request has arrived.
    """

    def __init__(self, head: bytes, body: bytes = b"", trickle_head: bool = False,
                 keep_alive: bool = False):
        self.head, self.body, self.trickle_head = head, body, trickle_head
        self.keep_alive = keep_alive
        self.connections = 0
        self.sent = 0
        self.hung_up = threading.Event()
        self.started = threading.Event()
        self.finished = threading.Event()
        self._stop = threading.Event()
        super().__init__(threaded=True)

    def answer(self, conn: socket.socket) -> None:
        self.connections += 1
        if self.keep_alive:  # answer every request on this connection at once
            while read_request(conn):
                conn.sendall(self.head)
            return
        conn.recv(65536)
        self.started.set()
        self.sent = 0
        try:
            if self.trickle_head:
                self._trickle(conn, self.head)
            else:
                conn.sendall(self.head)
            self._trickle(conn, self.body)
        except OSError:
            self.hung_up.set()
            return
        self.finished.set()

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for index in range(len(data)):
            if self._stop.is_set():
                return
            conn.sendall(data[index:index + 1])
            self.sent += 1
            time.sleep(TRICKLE_EVERY)

    def close(self) -> None:
        self._stop.set()
        super().close()


def read_request(conn: socket.socket) -> bool:
    """Read one whole request (headers and a Content-Length body); False at the end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


def request(url: str) -> PreparedRequest:
    return PreparedRequest("telemetrydeck", "POST", url, (("Content-Type", "application/json"),),
                           b"[]")


def send_and_time(server: Trickler, deadline: float) -> tuple[float, str]:
    client = HttpClient(timeout=deadline)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError) as err:
            client.send(request(server.url))
        return time.monotonic() - started, str(err.value)
    finally:
        client.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
TRICKLED = [
    pytest.param(dict(head=HEAD + FULL_BODY, trickle_head=True), id="headers-trickled"),
    pytest.param(dict(head=HEAD, body=FULL_BODY), id="body-trickled"),
    # No length: the body ends when the connection does. Cut at the deadline it would look
    # complete; it must still be a failure, not a short "200".
    pytest.param(dict(head=b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n",
                      body=FULL_BODY), id="unframed-body-trickled"),
]


@pytest.mark.parametrize("kwargs", TRICKLED)
def test_a_trickling_server_cannot_hold_a_request_past_its_deadline(kwargs):
    server = Trickler(**kwargs)
    try:
        elapsed, message = send_and_time(server, deadline=1.5)
        assert "within 1.5 s" in message
        # The client hung up long before the server was done (40 s of trickle).
        assert server.hung_up.wait(5)
        assert not server.finished.is_set()
        assert server.sent < len(FULL_BODY) / 2
        assert elapsed < 20
    finally:
        server.close()


def test_a_prompt_answer_is_unaffected_and_the_connection_is_reused():
    server = Trickler(HEAD[:-len("200\r\n\r\n")] + b"2\r\n\r\nok", keep_alive=True)
    client = HttpClient(timeout=2)
    try:
        for _ in range(3):
            response = client.send(request(server.url))
            assert (response.status, response.body) == (200, b"ok")
        time.sleep(2.5)  # past the deadline of the last exchange: nothing cuts the pooled one
        assert client.send(request(server.url)).body == b"ok"
        assert server.connections == 1
    finally:
        client.close()
        server.close()


def config_for(km_url: str, td_url: str, home_cfg):
    text = f"""
[product]
id = "1"
[keymanager]
url = "{km_url.rstrip('/')}"
api_key = "k"
timeout = 2
[telemetrydeck]
url = "{td_url}"
app_id = "APP"
timeout = 2
[[consent.category]]
id = "usage"
events = ["feature.*"]
"""
    return parse_config(home_cfg / "companion.toml", text)


def test_a_stalled_keymanager_does_not_delay_telemetrydeck(tmp_path, td):
    km = Trickler(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200\r\n\r\n", FULL_BODY)
    delivered_while_stalled: list[bool] = []

    companion = build_companion(config_for(km.url, td.url, tmp_path), tmp_path / "home",
                                license_key=lambda: "AB12-CD34-EF56-GH78", environ={})
    try:
        companion.grant()
        companion.track("feature.open", kind="number", value=1)
        original = td.handle_request

        def observe(rec, behaviour):
            # KeyManager comes first in order; TelemetryDeck is answered before KeyManager's
            # stalled exchange has ended (tried one after another, it would be after).
            delivered_while_stalled.append(not km.hung_up.is_set())
            return original(rec, behaviour)

        td.handle_request = observe
        reports = companion.send_round()
        assert reports["telemetrydeck"].delivered == 1
        assert reports["keymanager"].delivered == 0
        assert "within 2 s" in reports["keymanager"].stopped
        assert delivered_while_stalled == [True]
        assert km.hung_up.wait(5) and km.sent < len(FULL_BODY) / 2
        assert len(td.accepted_events()) == 1
        assert companion.outbox.counts() == {"keymanager": 1}  # kept for the next try
    finally:
        companion.close()
        km.close()
