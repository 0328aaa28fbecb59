"""A native Windows host (tests/windows/host_win.c, built with mingw from the one-header C
client) tracks events and asks for the license over the real named pipe; the events reach the
TelemetryDeck test receiver exactly once. scripts/test-windows.sh builds the host first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import pipe_name
from app.door.companion_side import CompanionHost
from app.door.server import HostServer
from app.storage.config import load_config
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(120)

HOST = Path(__file__).resolve().parents[2] / "build" / "windows-host" / "host_win.exe"
COUNT = 200


def test_the_mingw_host_delivers_its_events_exactly_once_over_the_pipe(tmp_path, td):
    assert HOST.is_file(), f"{HOST} is built by scripts/test-windows.sh"
    product = f"c-host-{os.urandom(4).hex()}"
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck(td.url))
    comp = build_companion(load_config(config), tmp_path / "home", identity=lambda: Identity(
        "u" * 32, "a" * 32, "test", "tester"), environ={}, license_key=lambda: "")
    try:
        comp.grant()
        # The name the C client derives by itself (product slug + this user's SID).
        server = HostServer(CompanionHost(comp), pipe_name(product))
        server.start()
        try:
            env = {k: v for k, v in os.environ.items() if k != "LICENSE_COMPANION_HOST_SOCKET"}
            env["LICENSE_COMPANION_HOME"] = str(tmp_path / "host-home")  # its inbox, if used
            done = subprocess.run([str(HOST), product, str(COUNT)], capture_output=True,
                                  text=True, timeout=90, env=env)
        finally:
            server.stop()
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].strip() == "flushed 0", done.stdout
        state = lines[1].split()[1]
        assert state in {"valid", "invalid", "unknown", "no-key"}, done.stdout
        assert not list((tmp_path / "host-home").glob("inbox/*.jsonl"))  # all by the pipe
        while comp.send(force=True)["telemetrydeck"].delivered:
            pass
    finally:
        comp.close()
    values = sorted(e["payload"]["floatValue"] for e in td.accepted_events())
    assert values == [float(i) for i in range(COUNT)]
