"""A property over every entry path: whatever the socket, ``track --jsonl`` or the inbox accepts
is delivered to the real test receiver or kept aside (quarantined), and ``send`` never exits 70.

The events are generated: extreme numbers and timestamps (milliseconds, years past 9999, huge
integers, NaN), and names, payload keys and values drawn from every Unicode category,
lone surrogates included (written as ``\\udc80`` escapes, as a JSON encoder does)."""

from __future__ import annotations

import io
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cli
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.companion_side import CompanionHost
from app.door.server import HostServer, Limits
from app.receiver import TelemetryDeckReceiver
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(600)

# Every Unicode category, surrogates (Cs) included.
ANY_CHAR = st.characters(exclude_categories=())
# Half plain text, so that many generated events are accepted and must then arrive.
TEXT = st.one_of(st.text(ANY_CHAR, max_size=12),
                 st.from_regex(r"[A-Za-z0-9 ._\u00e9\u4e2d-]{0,12}", fullmatch=True))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 2**53, 2**53 + 1, 1e308, 5e-324, -1e308]),
)
TIMESTAMPS = st.one_of(
    st.none(),
    NUMBERS,
    st.sampled_from([0, 1.7e12, 1765000000000, 253402300799, 253402300800, 4102444800,
                     4102444800.5, -62135596800, 1765000000.25, 2**63]),
    st.floats(min_value=0, max_value=4102444800),
)
PRIMITIVE = st.one_of(TEXT, NUMBERS, st.booleans(), st.none())


@st.composite
def events(draw: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"name": "feature." + draw(TEXT)}
    kind = draw(st.sampled_from(["value", "xy", "text"]))
    if kind == "value":
        event["value"] = draw(NUMBERS)
    elif kind == "xy":
        event["xy"] = [draw(NUMBERS), draw(NUMBERS)]
    else:
        event["text"] = draw(st.text(ANY_CHAR, max_size=40))
    if draw(st.booleans()):
        event["payload"] = draw(st.dictionaries(TEXT, PRIMITIVE, max_size=4))
    timestamp = draw(TIMESTAMPS)
    if timestamp is not None:
        event["timestamp"] = timestamp
    if draw(st.booleans()):
        event["session"] = draw(TEXT)
    return event


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=True).encode("ascii") + b"\n"


def identity() -> Identity:
    return Identity("u" * 32, "a" * 32, "test", "tester")


def build(cfg: Any, where: Path) -> Any:
    return build_companion(cfg, where, identity=identity, environ={}, license_key=lambda: "")


def via_socket(config: Path, home: Path, lines: list[bytes]) -> int:
    """Each line on the socket; the number the companion answered as stored."""
    companion = build(load_config(config), home)
    path = home.parent / "run" / "host.sock"
    server = HostServer(CompanionHost(companion), path, Limits(max_connections=4))
    server.start()
    stored = 0
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(20)
            sock.connect(str(path))
            for line in lines:
                sock.sendall(b'{"op":"track",' + line[1:] if line.startswith(b"{\"") else line)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    assert chunk, "the companion closed the connection"
                    data += chunk
                answer = json.loads(data)
                if answer["ok"]:
                    stored += int(answer["stored"])
                else:
                    assert answer["error"]["code"] != "internal", answer
    finally:
        server.stop()
        companion.close()
    return stored


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=5))
def test_whatever_is_accepted_is_delivered_or_quarantined(monkeypatch, generated):
    lines = [encode(event) for event in generated]
    with tempfile.TemporaryDirectory() as tmp, TelemetryDeckReceiver() as td:
        root = Path(tmp)
        config = write_vendor_config(root / "companion.toml", consent_version=1,
                                     telemetrydeck=telemetrydeck(td.url))
        home = root / "home"

        def run(*args: str, stdin: bytes | None = None) -> int:
            if stdin is not None:
                monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
            return cli.main(["--home", str(home), "--config", str(config), *args], build=build)

        assert run("consent", "grant") == 0
        stored = via_socket(config, home, lines)

        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        assert run("track", "--jsonl", "-", "--json", stdin=b"".join(lines)) in (0, 2)
        stored += json.loads(out.getvalue())["stored"]

        inbox = home / "inbox"
        inbox.mkdir(mode=0o700, exist_ok=True)
        (inbox / "1-prop.jsonl").write_bytes(b"".join(lines))
        code = run("send")
        assert code == 0, f"send exited {code}"
        assert not list(inbox.glob("*.jsonl")) and not list(inbox.glob("*.claimed"))

        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        assert run("status", "--json") == 0
        status = json.loads(out.getvalue())
        stored += len(lines) - status["quarantined"]["inbox"]
        delivered = len(td.accepted_events())
        assert delivered + status["quarantined"]["outbox"] == stored
        assert status["backends"]["telemetrydeck"]["queued"] == 0
        assert run("preview", "--json") == 0
