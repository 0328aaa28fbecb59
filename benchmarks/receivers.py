"""The real test receivers (app.receiver) in their own process, with a fixed latency per answer.

Why a separate process: the CPU time a client spends per delivered event is read from the
client's own process clock, and the receiver's work (validating every signal, signing
KeyManager answers) must not be counted in it nor compete with it for the GIL.

Why a thin wrapper: the receivers answer HTTP/1.0 (one request per connection, so a scripted
Hang or Drop is unambiguous in tests). The services behind them keep connections alive, and the
floors in the table assume one kept-alive connection, so here the same receiver classes serve
HTTP/1.1 with TCP_NODELAY. Latency is the receivers' own ``slow`` knob: every answer leaves that
long after its request arrived, the receiver's own work (validating, signing) inside that time, as
a server with that latency answers; only work longer than the latency would make it later.

Run as ``python -m benchmarks.receivers KIND LATENCY``; it prints one JSON line (``url``,
``pem``) and then answers commands on stdin, one per line: ``count`` (events accepted so far),
``clear``; end of input stops it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from http.server import ThreadingHTTPServer
from typing import Any

from benchmarks.core import clean_env


def _serve_keep_alive(receiver_class: type) -> None:
    """Make ``receiver_class.start`` serve HTTP/1.1 with TCP_NODELAY, in this process only.

    ``start`` builds its server from the module-level ``_Server`` of the module it is defined
    in (whatever that module is called), so a subclass of that server with a keep-alive handler
    is put in its place.
    """
    module = sys.modules[receiver_class.start.__module__]
    base_server, base_handler = module._Server, module._Handler

    class KeepAliveHandler(base_handler):  # type: ignore[misc, valid-type]
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            # As production servers do: without it the answer's body, written after its
            # headers, waits for the client's delayed ACK (~40 ms) on a reused connection.
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    class KeepAliveServer(base_server):  # type: ignore[misc, valid-type]
        def __init__(self, address: tuple[str, int], owner: Any) -> None:
            self.owner = owner
            ThreadingHTTPServer.__init__(self, address, KeepAliveHandler)

    module._Server = KeepAliveServer


def serve(kind: str, latency: float) -> None:
    """Start one receiver and answer the parent's commands until stdin closes."""
    from app.receiver import KeyManagerReceiver, TelemetryDeckReceiver

    rx: Any
    if kind == "keymanager":
        _serve_keep_alive(KeyManagerReceiver)
        rx = KeyManagerReceiver()
        pem = rx.public_key_pem.decode()
    else:
        _serve_keep_alive(TelemetryDeckReceiver)
        rx = TelemetryDeckReceiver()
        pem = ""
    rx.slow = latency
    rx.start()
    url = rx.base_url if kind == "keymanager" else rx.url
    print(json.dumps({"url": url, "pem": pem}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "count":
            print(len(rx.accepted_events()), flush=True)
        elif command == "clear":
            rx.clear()
            print("ok", flush=True)
    rx.close()


class Receiver:
    """The parent's handle on a receiver process."""

    def __init__(self, kind: str, latency: float) -> None:
        self.kind = kind
        self.latency = latency
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.receivers", kind, str(latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_env())
        first = self.proc.stdout.readline() if self.proc.stdout else ""
        if not first:
            self.close()
            raise RuntimeError(f"the {kind} receiver did not start")
        info = json.loads(first)
        self.url: str = info["url"]
        self.pem: bytes = info["pem"].encode()

    def _ask(self, command: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def count(self) -> int:
        """Events the receiver accepted (answered 200) since the last ``clear``."""
        return int(self._ask("count"))

    def clear(self) -> None:
        self._ask("clear")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]))
