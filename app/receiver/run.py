"""The ``license-companion receiver`` command: serve one receiver, print each request live.

A vendor trying the flow runs ``license-companion receiver keymanager|telemetrydeck``, points the
companion at the URL it prints, and sees one line per request as it arrives: time, backend, the
event name(s), the receiver's verdict and the HTTP status. ``quiet`` keeps only the first line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from app.receiver.keymanager import KEYMANAGER, KeyManagerReceiver
from app.receiver.records import License, RecordedRequest
from app.receiver.server import Receiver
from app.receiver.telemetrydeck import TELEMETRYDECK, TelemetryDeckReceiver


def make_receiver(
    kind: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    record: Path | None = None,
    licenses: Mapping[str, License] | None = None,
) -> KeyManagerReceiver | TelemetryDeckReceiver:
    """The receiver for ``kind``; for TelemetryDeck ``api_key`` is the allowed appID."""
    if kind == KEYMANAGER:
        return KeyManagerReceiver(host, port, api_key=api_key, licenses=licenses, record=record)
    if kind == TELEMETRYDECK:
        return TelemetryDeckReceiver(
            host, port, app_ids=[api_key] if api_key else None, record=record
        )
    raise ValueError(f"unknown receiver kind {kind!r}; use {KEYMANAGER} or {TELEMETRYDECK}")


def request_line(rx: Receiver, rec: RecordedRequest) -> str:
    """One request in one line: ``HH:MM:SS backend name(s) -> verdict [HTTP status]``.

    Names and verdicts come from what was sent, so control characters are escaped: a line on
    the vendor's terminal must never be able to rewrite the terminal.
    """
    clock = time.strftime("%H:%M:%S", time.localtime(rec.time))
    names = ", ".join(rx.event_names(rec)) or f"{rec.method} {rec.path}"
    status = f"HTTP {rec.status}" if rec.status is not None else "no HTTP answer"
    return _printable(f"{clock} {rx.kind} {names} -> {rx.verdict(rec)} [{status}]")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _printer(rx: Receiver, out: TextIO) -> Callable[[RecordedRequest], None]:
    lock = threading.Lock()  # handler threads finish concurrently; lines must not interleave
    broken = threading.Event()

    def show(rec: RecordedRequest) -> None:
        if broken.is_set():
            return
        line = request_line(rx, rec)
        with lock:
            try:
                print(line, file=out, flush=True)
            except (OSError, ValueError):  # the reader went away (`| head`): keep serving
                broken.set()

    return show


def run_receiver(
    kind: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    public_key_out: Path | None = None,
    record: Path | None = None,
    licenses: Mapping[str, License] | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
    quiet: bool = False,
) -> int:
    """Serve until Ctrl-C (or ``stop`` is set): a line saying where, then one per request.

    For KeyManager the public key PEM is written to ``public_key_out`` (a fresh temporary file
    when None) so the vendor can configure signature checking against it.

    Args:
        kind: "keymanager" or "telemetrydeck".
        api_key: KeyManager: the only API key accepted; TelemetryDeck: the only appID accepted.
        record: append every request as a JSON line here (it holds keys exactly as sent).
        licenses: KeyManager's license table for verify/activate/deactivate.
        stop: for tests and embedding: return when it is set.
        out: where the lines go (stdout).
        quiet: print only the first line, not one per request.

    Returns:
        The process exit code (0).
    """
    out = out if out is not None else sys.stdout
    rx = make_receiver(kind, host, port, api_key=api_key, record=record, licenses=licenses)
    if not quiet:
        rx.on_request = _printer(rx, out)
    stop = stop if stop is not None else threading.Event()
    with rx:
        line = rx.banner()
        if isinstance(rx, KeyManagerReceiver):
            if public_key_out is None:
                public_key_out = Path(tempfile.mkdtemp(prefix="lc-receiver-")) / "public-key.pem"
            public_key_out.write_bytes(rx.public_key_pem)
            line += f" (public key: {public_key_out})"
        if record is not None:
            line += f" (recording to {record})"
        print(line, file=out, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


def iter_records(path: Path) -> Iterable[dict[str, Any]]:
    """Read back a ``--record`` file, one dict per request."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
