"""Hosts talking to the real tray process (offscreen): Python and shell hosts, several at once,
a stuck send round, a SIGKILL mid-stream with the inbox taking over.

Each test runs ``python -m app tray`` with its own state directory, a socket in a short private
directory (``LICENSE_COMPANION_HOST_SOCKET``) and a config sending to an in-process TelemetryDeck
receiver (no license key, so no keyring). Hosts are separate processes: ``app/door/client.py`` run
by Python, and a shell script speaking the protocol through ``socat``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.door.client import Client
from app.receiver.faults import Hang
from tests.configs import telemetrydeck, write_vendor_config
from tests.e2e.test_tray_process import delivered_values, log_text, wait_for
from tests.procs import terminate

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

HOST_SCRIPT = """
import sys, time
from app.door.client import Client
sock, inbox, base, count, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \\
    float(sys.argv[5])
client = Client(socket_path=sock, inbox=inbox, connect_timeout=0.2)
for value in range(base, base + count):
    answer = client.track("feature.export", value=value)
    way = "inbox" if answer.get("queued") == "inbox" else "socket"
    assert way == "inbox" or answer.get("event_id"), answer
    print(value, way, flush=True)
    time.sleep(pause)
"""

# A host in no particular language: the protocol's lines through socat, one answer per line.
SHELL_HOST = """#!/bin/sh
set -e
printf '%s\\n' \\
  '{"op":"hello","protocol":1,"id":"h"}' \\
  '{"op":"track","name":"feature.export","value":9001,"id":"t"}' \\
  '{"op":"license","id":"l"}' \\
  '{"op":"consent","id":"c"}' \\
  | socat -t 10 - "UNIX-CONNECT:$1"
"""


@pytest.fixture()
def tray(tmp_path, td):
    """Start/stop the tray for one state directory; consent granted beforehand."""
    home = tmp_path / "home"
    home.mkdir()
    config = write_vendor_config(tmp_path / "cfg" / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck(td.url, timeout=3))
    sockdir = Path(tempfile.mkdtemp(prefix="lch-", dir="/tmp"))  # AF_UNIX paths are short
    procs: list[subprocess.Popen] = []

    class Tray:
        sock = sockdir / "host.sock"
        inbox = home / "inbox"

        def __init__(self) -> None:
            self.home, self.config = home, config

        @property
        def env(self) -> dict[str, str]:
            """Read when used: a keyring fixture may point D-Bus at its private bus first."""
            env = dict(os.environ)
            env.update(LICENSE_COMPANION_HOME=str(home), LICENSE_COMPANION_CONFIG=str(config),
                       LICENSE_COMPANION_HOST_SOCKET=str(self.sock),
                       QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
            env.pop("DO_NOT_TRACK", None)
            return env

        def cli(self, *args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=self.env,
                                  capture_output=True, text=True, timeout=60)

        def start(self) -> subprocess.Popen:
            opened = log_text(home).count("host endpoint open at")
            proc = subprocess.Popen([sys.executable, "-m", "app", "tray", "--send-interval",
                                     "0.3"], cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            procs.append(proc)
            wait_for(lambda: log_text(home).count("host endpoint open at") > opened, 30,
                     "the host endpoint")
            return proc

        def host(self, base: int, count: int, pause: float = 0.0) -> subprocess.Popen:
            proc = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, str(self.sock),
                                     str(self.inbox), str(base), str(count), str(pause)],
                                    cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            procs.append(proc)
            return proc

    t = Tray()
    assert t.cli("consent", "grant").returncode == 0
    yield t
    for proc in procs:
        terminate(proc)
    shutil.rmtree(sockdir, ignore_errors=True)


def acknowledged(output: str) -> dict[int, str]:
    """value -> "socket" | "inbox", from a host's lines."""
    return {int(v): way for v, way in (line.split() for line in output.splitlines() if line)}


@pytest.mark.keyring
def test_python_and_shell_hosts_talk_to_the_real_tray(keyring_env, tray, td):
    assert tray.cli("license", "clear").returncode in (0, 1)
    tray.start()
    info = json.loads(tray.cli("host-info", "--json").stdout)
    assert info["running"] is True and info["address"] == str(tray.sock)
    assert info["protocol"] == 1 and info["inbox"] == str(tray.inbox)

    # Several Python host processes at once, and a shell host through socat.
    hosts = [tray.host(base, 40) for base in (0, 1000, 2000)]
    assert shutil.which("socat"), "socat is missing (scripts/install-system-deps.sh installs it)"
    shell = tray.home.parent / "host.sh"
    shell.write_text(SHELL_HOST)
    shell.chmod(0o755)
    lines = subprocess.run([str(shell), str(tray.sock)], capture_output=True, text=True,
                           timeout=30)
    assert lines.returncode == 0, lines.stderr
    answers = {a["id"]: a for a in map(json.loads, lines.stdout.splitlines())}
    assert answers["h"]["ok"] and answers["h"]["protocol"] == 1
    assert answers["t"]["ok"] and answers["t"]["stored"] and answers["t"]["event_id"]
    assert answers["l"]["ok"] and "license" in answers["l"]
    assert answers["c"]["ok"] and answers["c"]["categories"]["usage"]["choice"] == "granted"
    acked: dict[int, str] = {}
    for proc in hosts:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        acked.update(acknowledged(out))
    assert len(acked) == 120 and set(acked.values()) == {"socket"}
    wanted = set(acked) | {9001}
    wait_for(lambda: wanted <= delivered_values(td), 30, "the hosts' events at the receiver")

    # license() and consent() say what the command line says.
    client = Client(socket_path=tray.sock, inbox=tray.inbox)
    cli_license = json.loads(tray.cli("license", "status", "--json", "--offline").stdout)
    assert client.license()["license"]["state"] == cli_license["state"]
    assert answers["l"]["license"]["state"] == cli_license["state"]
    cli_consent = json.loads(tray.cli("consent", "show", "--json").stdout)
    host_consent = client.consent()
    assert {c["id"]: c["choice"] for c in cli_consent["categories"]} == \
        {k: v["choice"] for k, v in host_consent["categories"].items()}

    # A consent change made by the command line reaches a watching host (the CLI's wake).
    client.watch()
    assert tray.cli("consent", "revoke", "usage").returncode == 0
    pushed = client.next_push(timeout=10)
    assert pushed and pushed["push"] == "consent"
    assert pushed["consent"]["categories"]["usage"]["choice"] == "denied"

    # show: the window opens in the tray.
    assert client.show("history")["ok"]
    wait_for(lambda: "host: opened the history window" in log_text(tray.home), 15,
             "the history window")


def test_hosts_keep_tracking_while_a_send_round_hangs(tray, td):
    td.script(Hang(20))  # the first request hangs past the client's 3 s timeout
    tray.start()
    client = Client(socket_path=tray.sock, inbox=tray.inbox)
    assert client.track("feature.export", value=0)["stored"]
    assert td.wait_for_requests(1, timeout=20, finished=False)  # the round is stuck now
    for value in range(1, 101):
        assert client.track("feature.export", value=value)["event_id"]
    assert td.requests[0].outcome == "pending"  # all answered while the round was stuck
    wait_for(lambda: set(range(101)) <= delivered_values(td), 40, "everything delivered after")


def test_kill_9_while_hosts_send_then_everything_acknowledged_is_delivered(tray, td):
    proc = tray.start()
    hosts = [tray.host(base, 300, pause=0.01) for base in (0, 10_000)]
    wait_for(lambda: len(delivered_values(td)) >= 40, 30, "events flowing")
    proc.kill()  # SIGKILL: no cleanup, hosts mid-stream
    proc.wait(10)
    acked: dict[int, str] = {}
    for host in hosts:
        out, err = host.communicate(timeout=90)
        assert host.returncode == 0, err
        acked.update(acknowledged(out))
    assert len(acked) == 600
    ways = set(acked.values())
    assert ways == {"socket", "inbox"}, ways  # some answered live, the rest through the inbox
    tray.start()
    wait_for(lambda: set(acked) <= delivered_values(td), 60, "every acknowledged event")
    assert not list(tray.inbox.glob("*.jsonl")) and not list(tray.inbox.glob("*.claimed"))


def test_hostile_clients_do_not_hurt_the_real_tray(tray, td):
    import socket

    proc = tray.start()

    def raw(data: bytes, *, half_close: bool = True) -> bytes:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(tray.sock))
        sock.settimeout(15)
        got = b""
        try:
            with contextlib.suppress(OSError):  # the tray may close first (a too long line)
                sock.sendall(data)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    got += chunk
            return got
        finally:
            sock.close()

    codes = []
    for data in (b"\xff\xfe\n", b"{nope\n", b"[" * 5000 + b"\n", b'{"op":"track","name":'
                 b'"feature.x","value":1' + b"0" * 400 + b"}\n", b'{"op":"fly"}\n',
                 b'{"op":"hello","protocol":99}\n', b"x" * (1024 * 1024 + 10) + b"\n"):
        answer = json.loads(raw(data).splitlines()[0])
        codes.append(answer["error"]["code"])
    assert codes == ["bad_utf8", "bad_json", "too_deep", "bad_number", "unknown_op",
                     "unsupported_protocol", "line_too_long"]
    # A batch cut off mid-line: the whole lines before it count, the partial one never does.
    cut = raw(b'{"op":"track","name":"feature.export","value":5001}\n'
              b'{"op":"track_batch","events":[{"name":"feature.export","value":5002}')
    assert json.loads(cut.splitlines()[0])["stored"] and len(cut.splitlines()) == 1
    client = Client(socket_path=tray.sock, inbox=tray.inbox)
    assert client.track("feature.export", value=5003)["event_id"]
    assert proc.poll() is None
    wait_for(lambda: {5001, 5003} <= delivered_values(td), 30, "the acknowledged events")
    assert 5002 not in delivered_values(td)
