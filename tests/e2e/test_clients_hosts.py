"""The host clients (C, Node, Python waiting and not waiting) each deliver 10,000 events
through the real tray exactly once, also when the tray is SIGKILLed mid-stream and started
again (the rest by the inbox).

The tray is ``python -m app tray`` with its own state directory and socket, sending to an
in-process TelemetryDeck receiver. In the kill runs the first tray sends to a port where nothing
listens, so nothing is delivered before the kill and the receiver's count is the companion's:
every value must arrive once, none twice (an event that was committed before the kill and
written to the inbox again by its host, with its id, is not stored again).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.door.client import Client
from tests.configs import telemetrydeck, vendor_config
from tests.e2e.test_tray_process import log_text, wait_for
from tests.procs import terminate

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
HOSTS = Path(__file__).resolve().parent / "hosts"
COUNT = 10_000
NOWHERE = "http://127.0.0.1:9/v2/"  # the discard port: connection refused, nothing delivered

PYTHON_HOST = """
import sys, time
from app.door.client import Client
product, base, count, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
client = Client(product, connect_timeout=0.2)
for i in range(count):
    client.track("feature.export", value=base + i)
    if (i + 1) % 1000 == 0:
        print(f"sent {i + 1}", flush=True)
    time.sleep(pause)
print("flushed 0", flush=True)
"""


def counts(td) -> collections.Counter[int]:
    """How often each value reached the receiver (accepted requests only)."""
    seen: collections.Counter[int] = collections.Counter()
    for record in td.requests:
        if record.status == 200 and isinstance(record.form, list):
            seen.update(int(signal["payload"]["floatValue"]) for signal in record.form)
    return seen


@pytest.fixture(scope="module")
def c_host(tmp_path_factory) -> Path:
    """The C host, built with the strictest flags; the header also builds as C++."""
    gcc, gxx = shutil.which("gcc"), shutil.which("g++")
    assert gcc and gxx, "gcc/g++ are missing (scripts/install-system-deps.sh installs them)"
    out = tmp_path_factory.mktemp("c") / "host"
    flags = ["-Wall", "-Wextra", "-Werror", f"-I{REPO / 'clients' / 'c'}"]
    subprocess.run([gcc, "-std=c99", "-pedantic", *flags, str(HOSTS / "host.c"), "-o",
                    str(out), "-lm"], check=True, capture_output=True, timeout=120)
    cpp = out.with_name("host_cpp")
    subprocess.run([gxx, "-x", "c++", *flags, str(HOSTS / "host.c"), "-o", str(cpp)],
                   check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture()
def tray(tmp_path, td):
    """Start/stop the tray for one state directory; consent granted beforehand."""
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "companion.toml"
    sockdir = Path(tempfile.mkdtemp(prefix="lcc-", dir="/tmp"))  # AF_UNIX paths are short
    procs: list[subprocess.Popen] = []

    class Tray:
        sock = sockdir / "host.sock"
        inbox = home / "inbox"
        product = "Clients Test 1"

        def __init__(self) -> None:
            self.home = home
            self.configure(td.url)

        def configure(self, url: str) -> None:
            text = vendor_config(product={"id": self.product}, consent_version=1,
                                 telemetrydeck=telemetrydeck(url, timeout=10))
            config.write_text(text + "\n[outbox]\ncap = 100000\n", encoding="utf-8")

        @property
        def env(self) -> dict[str, str]:
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
                                     "0.3"], cwd=REPO, env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            procs.append(proc)
            wait_for(lambda: log_text(home).count("host endpoint open at") > opened, 30,
                     "the host endpoint")
            return proc

        def run(self, argv: list[str]) -> subprocess.Popen:
            proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            procs.append(proc)
            return proc

    t = Tray()
    assert t.cli("consent", "grant").returncode == 0
    yield t
    for proc in procs:
        terminate(proc)
    shutil.rmtree(sockdir, ignore_errors=True)


def host_argv(kind: str, c_host: Path, product: str, count: int, slow: bool) -> list[str]:
    if kind == "c":
        return [str(c_host), "track", product, "0", str(count), "300" if slow else "0"]
    if kind == "node":
        node = shutil.which("node")
        assert node, "node is missing (scripts/install-system-deps.sh installs nodejs)"
        return [node, str(HOSTS / "host.js"), product, "0", str(count), "25" if slow else "0"]
    if kind == "python-nowait":
        return [sys.executable, str(HOSTS / "host.py"), product, "0", str(count),
                "25" if slow else "0"]
    return [sys.executable, "-c", PYTHON_HOST, product, "0", str(count),
            "0.0003" if slow else "0"]


@pytest.mark.parametrize("kind", ["c", "node", "python", "python-nowait"])
def test_a_host_delivers_10000_events_exactly_once(kind, tray, td, c_host):
    tray.start()
    host = tray.run(host_argv(kind, c_host, tray.product, COUNT, slow=False))
    out, err = host.communicate(timeout=120)
    assert host.returncode == 0, err
    assert out.splitlines()[-1].strip() == "flushed 0", out[-500:]
    wait_for(lambda: len(counts(td)) >= COUNT, 90, "every event at the receiver")
    seen = counts(td)
    assert set(seen) == set(range(COUNT))
    assert max(seen.values()) == 1, [v for v, n in seen.items() if n > 1][:10]
    assert not list(tray.inbox.glob("*.jsonl"))


@pytest.mark.parametrize("kind", ["c", "node", "python", "python-nowait"])
def test_tray_killed_mid_stream_the_rest_arrive_by_the_inbox_exactly_once(kind, tray, td,
                                                                           c_host):
    tray.configure(NOWHERE)  # nothing leaves before the kill: the receiver counts what's stored
    first = tray.start()
    host = tray.run(host_argv(kind, c_host, tray.product, COUNT, slow=True))
    assert host.stdout is not None
    for line in host.stdout:
        if line.startswith("sent 2000"):
            break
    first.kill()  # SIGKILL mid-stream: events sent and unanswered, more to come
    first.wait(10)
    rest, err = host.communicate(timeout=120)
    assert host.returncode == 0, err
    assert rest.splitlines()[-1].strip() == "flushed 0", rest[-500:]
    assert list(tray.inbox.glob("*.jsonl")), "the host should have used the inbox"

    tray.configure(td.url)
    tray.start()
    Client(socket_path=tray.sock, inbox=tray.inbox).flush()  # skip the backoff of the failures
    wait_for(lambda: len(counts(td)) >= COUNT, 90, "every event at the receiver")
    seen = counts(td)
    assert set(seen) == set(range(COUNT)), sorted(set(range(COUNT)) - set(seen))[:10]
    assert max(seen.values()) == 1, [v for v, n in seen.items() if n > 1][:10]
    assert not list(tray.inbox.glob("*.jsonl"))
