"""A loopback TCP server below HTTP, for answers no HTTP server library would send.

The tests that need a truncated body, a trickled answer or a raw error page subclass it (or give
it a ``reply``) and write the bytes themselves.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to ``answer``.

    Args:
        reply: what ``answer`` calls after reading the request (at most 64 KiB, once).
        threaded: one thread per connection (else one connection at a time).
    """

    def __init__(self, reply: Callable[[socket.socket], None] | None = None, *,
                 threaded: bool = False) -> None:
        self.reply = reply
        self.threaded = threaded
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/"

    def answer(self, conn: socket.socket) -> None:
        """Read the request, then ``reply`` (subclasses answer their own way)."""
        conn.recv(65536)
        if self.reply is not None:
            self.reply(conn)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.threaded:
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
            else:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            self.answer(conn)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


class ConnectProxy(RawServer):
    """An HTTP CONNECT proxy on loopback: records each request line, then relays both ways.

    Args:
        refuse: answer every CONNECT with this status instead of opening the tunnel.
        hosts: names the proxy resolves itself (e.g. a reserved name to 127.0.0.1), as a
            company proxy resolves names the client cannot.

    Attributes:
        targets: every request line's method and target, e.g. ``CONNECT 127.0.0.1:443``.
    """

    def __init__(self, refuse: int | None = None, hosts: dict[str, str] | None = None) -> None:
        self.refuse = refuse
        self.hosts = dict(hosts or {})
        self.targets: list[str] = []
        super().__init__(threaded=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tunnels(self) -> list[str]:
        """The targets of the CONNECT requests, in order."""
        return [t.split(" ", 1)[1] for t in self.targets if t.startswith("CONNECT ")]

    def answer(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        self.targets.append(f"{method} {target}")
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if self.refuse:
            conn.sendall(f"HTTP/1.1 {self.refuse} Refused\r\nContent-Length: 0\r\n\r\n".encode())
            return
        host, port = target.rsplit(":", 1)
        with socket.create_connection((self.hosts.get(host, host), int(port)),
                                      timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(conn, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes or both are quiet for 5 s."""
    while True:
        ready, _, _ = select.select([a, b], [], [], 5)
        if not ready:
            return
        for src in ready:
            data = src.recv(65536)
            if not data:
                return
            (b if src is a else a).sendall(data)
