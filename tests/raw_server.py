"""A loopback TCP server below HTTP, for answers no HTTP server library would send.

The tests that need a truncated body, a trickled answer or a raw error page subclass it (or give
it a ``reply``) and write the bytes themselves.
"""

from __future__ import annotations

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
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v2/"

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
