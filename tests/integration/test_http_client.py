"""The HTTP client against servers that misbehave below the HTTP layer."""

from __future__ import annotations

import time

import pytest

from app.delivery.http import HttpClient, TransportError
from app.model.wire import PreparedRequest
from tests.raw_server import RawServer

pytestmark = pytest.mark.timeout(30)


def request(url: str) -> PreparedRequest:
    return PreparedRequest("telemetrydeck", "POST", url, (("Content-Type", "application/json"),),
                           b"[]")


def truncated_body(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")


def stalled_body(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    time.sleep(3)


def garbage_status_line(conn):
    conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")


@pytest.mark.parametrize("reply", [truncated_body, stalled_body, garbage_status_line])
def test_a_broken_response_is_a_transport_error_not_a_crash(reply):
    server = RawServer(reply)
    client = HttpClient(timeout=1)
    try:
        with pytest.raises(TransportError):
            client.send(request(server.url))
    finally:
        client.close()
        server.close()


def test_plain_http_is_refused_for_other_hosts():
    client = HttpClient(timeout=1)
    with pytest.raises(TransportError, match="refusing"):
        client.send(request("http://example.com/v2/"))


def test_netrc_credentials_are_not_added(tmp_path, monkeypatch):
    seen = []

    class Capturing(RawServer):
        def answer(self, conn):
            seen.append(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = Capturing()
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login user password hunter2\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    client = HttpClient(timeout=2)
    try:
        assert client.send(request(server.url)).status == 200
    finally:
        client.close()
        server.close()
    assert seen and b"authorization" not in seen[0].lower()
