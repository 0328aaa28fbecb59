"""The shared protocol cases (clients/protocol-cases.json) against the real door, through a raw
socket, the C client (clients/c), the Node client (clients/node) and app/door/client.py, so the
clients and the door cannot drift apart. Also: an event id is stored at most once whether it
comes by the socket, the inbox or both.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.client import Client, ClientError
from app.door.companion_side import CompanionHost
from app.door.ingest import ingest_inbox
from app.door.server import HostServer
from app.storage.config import load_config
from app.storage.inbox import Inbox
from tests import protocol_cases

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]
C_HOST = REPO / "tests" / "e2e" / "hosts" / "host.c"
CASES = protocol_cases.load()


class Door:
    def __init__(self, tmp: Path) -> None:
        (tmp / "companion.toml").write_text(CASES["config"], encoding="utf-8")
        self.home = tmp / "home"
        self.companion = build_companion(
            load_config(tmp / "companion.toml"), self.home, environ={},
            identity=lambda: Identity("u" * 32, "a" * 32, "test", "tester"),
            license_key=lambda: "")
        self.companion.grant(["usage"])
        self.companion.revoke(["diagnostics"])
        self.host = CompanionHost(self.companion)
        self.sockdir = Path(tempfile.mkdtemp(prefix="lcp-", dir="/tmp"))
        self.server = HostServer(self.host, self.sockdir / "run" / "host.sock")
        self.server.start()
        self.env = {**os.environ, "LICENSE_COMPANION_HOST_SOCKET": str(self.server.path),
                    "LICENSE_COMPANION_HOME": str(self.home)}

    def close(self) -> None:
        self.server.stop()
        self.companion.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def outbox_ids(self) -> list[str]:
        db = sqlite3.connect(self.companion.db.path)
        try:
            return [row[0] for row in db.execute("SELECT event_id FROM outbox")]
        finally:
            db.close()


@pytest.fixture()
def door(tmp_path) -> Iterator[Door]:
    d = Door(tmp_path)
    yield d
    d.close()


def check(answers: list[str]) -> None:
    assert len(answers) == len(CASES["cases"])
    problems = []
    for case, line in zip(CASES["cases"], answers, strict=True):
        problem = protocol_cases.mismatch(case["expect"], json.loads(line))
        if problem:
            problems.append(f"{case['name']}: {problem} in {line[:300]}")
    assert not problems, "\n".join(problems)


def test_the_door_answers_every_case_over_a_raw_socket(door):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(door.server.path))
    sock.settimeout(10)
    reader = sock.makefile("rb")
    try:
        sock.sendall(b"".join(c["send"].encode("utf-8") + b"\n" for c in CASES["cases"]))
        answers = [reader.readline().decode("utf-8") for _ in CASES["cases"]]
    finally:
        reader.close()
        sock.close()
    check(answers)


@pytest.mark.parametrize("wait", [True, False], ids=["waiting", "not-waiting"])
def test_the_python_client_gets_every_case_answer(door, wait):
    client = Client("Acme Pro 7", socket_path=door.server.path, wait=wait)
    answers = []
    for case in CASES["cases"]:
        if not case["send"].startswith("{"):
            continue  # app/door/client.py sends objects only: no way to write a non-object line
        try:
            answers.append((case, client.request(json.loads(case["send"]))))
        except ClientError as exc:
            answers.append((case, {"ok": False, "error": {"code": exc.code, **(
                {"field": exc.field} if exc.field else {})}}))
        except ValueError:
            continue  # NaN and lone surrogates: not what Python's json writes back as sent
    problems = [f"{c['name']}: {p}" for c, a in answers
                if (p := protocol_cases.mismatch(_codes_only(c["expect"]), a))]
    assert len(answers) > 30 and not problems, problems


def _codes_only(expect: dict) -> dict:
    """What a ``ClientError`` keeps of an error answer: its code and field."""
    if expect.get("ok") is False:
        return {"ok": False, "error": {k: v for k, v in expect["error"].items()
                                       if k in ("code", "field", "!field")}}
    return expect


def test_the_c_client_gets_every_case_answer(door, tmp_path):
    gcc = shutil.which("gcc")
    assert gcc, "gcc is missing (scripts/install-system-deps.sh installs it)"
    exe = tmp_path / "host"
    subprocess.run([gcc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
                    f"-I{REPO / 'clients' / 'c'}", str(C_HOST), "-o", str(exe), "-lm"],
                   check=True, capture_output=True, timeout=120)
    lines = "".join(c["send"] + "\n" for c in CASES["cases"])
    run = subprocess.run([str(exe), "cases", "Acme Pro 7"], input=lines, capture_output=True,
                         text=True, env=door.env, timeout=60)
    assert run.returncode == 0, run.stderr
    check(run.stdout.splitlines())
    state = subprocess.run([str(exe), "license", "Acme Pro 7"], capture_output=True,
                           text=True, env=door.env, timeout=60)
    assert state.stdout.split() == ["0", "no-key"]


def test_the_c_client_refusal_and_inbox(door, tmp_path):
    """A refused event makes lc_flush fail with the door's code and field; with no companion
    the events go to the inbox, each with its own id, and are taken once."""
    gcc = shutil.which("gcc")
    assert gcc
    src = tmp_path / "refuse.c"
    src.write_text(r'''
#define LICENSE_COMPANION_IMPLEMENTATION
#include "license_companion.h"
#include <stdio.h>
int main(void) {
    lc_client *c = lc_open("Acme Pro 7");
    int rc;
    lc_track_text(c, "App.a", "");
    lc_track_number(c, "App.b", 2);
    rc = lc_flush(c, 10000);
    printf("%d|%s\n", rc, lc_error(c));
    rc = lc_flush(c, 10000);
    printf("%d\n", rc);
    lc_close(c);
    return 0;
}
''')
    exe = tmp_path / "refuse"
    subprocess.run([gcc, "-std=c99", "-Wall", "-Wextra", "-Werror",
                    f"-I{REPO / 'clients' / 'c'}", str(src), "-o", str(exe), "-lm"],
                   check=True, capture_output=True, timeout=120)
    out = subprocess.run([str(exe)], capture_output=True, text=True, env=door.env, timeout=60)
    first, second = out.stdout.splitlines()
    assert first.startswith("-6|invalid_field text: ") and second == "0"
    assert len(door.outbox_ids()) == 1

    env = {**door.env, "LICENSE_COMPANION_HOST_SOCKET": str(tmp_path / "nobody.sock")}
    out = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    # Both are on disk in the inbox: nothing to wait for (the bad one is refused at intake).
    assert out.stdout.splitlines() == ["0|no companion answers (tried less than 1 s ago)", "0"]
    files = list((door.home / "inbox").glob("*.jsonl"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert [e["name"] for e in lines] == ["App.a", "App.b"]
    assert all(e["event_id"].startswith("c-") for e in lines)
    report = ingest_inbox(Inbox(door.home / "inbox"), door.host)
    assert (report.accepted, report.rejected) == (1, 1)
    assert len(door.outbox_ids()) == 2


def test_the_node_client_passes_its_own_tests_against_the_door(door):
    node = shutil.which("node")
    assert node, "node is missing (scripts/install-system-deps.sh installs nodejs)"
    run = subprocess.run([node, "--test", str(REPO / "clients" / "node" / "test")],
                         capture_output=True, text=True, env=door.env, timeout=90)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "# pass 3" in run.stdout and "# skipped 0" in run.stdout, run.stdout[-1000:]


def test_an_event_id_is_stored_once_by_socket_inbox_or_both(door):
    client = Client("Acme Pro 7", socket_path=door.server.path, inbox=door.home / "inbox")
    first = client.request({"op": "track", "name": "App.a", "value": 1, "event_id": "e-1"})
    again = client.request({"op": "track_batch", "events": [
        {"name": "App.a", "value": 1, "event_id": "e-1"},
        {"name": "App.a", "value": 2, "event_id": "e-2"},
        {"name": "App.a", "value": 2, "event_id": "e-2"}]})
    assert first["stored"] and "duplicate" not in first
    assert [r.get("duplicate", False) for r in again["results"]] == [True, False, True]
    inbox = door.home / "inbox"
    inbox.mkdir(mode=0o700, exist_ok=True)
    (inbox / "99-abc.jsonl").write_text(
        '{"name":"App.a","value":2,"event_id":"e-2"}\n'
        '{"name":"App.a","value":3,"event_id":"e-3"}\n')
    report = ingest_inbox(Inbox(inbox), door.host)
    assert report.accepted == 2 and report.rejected == 0
    assert sorted(door.outbox_ids()) == ["e-1", "e-2", "e-3"]
    # Still once after the first copy was delivered and left the outbox.
    db = sqlite3.connect(door.companion.db.path)
    with db:
        db.execute("DELETE FROM outbox")
    db.close()
    assert client.request({"op": "track", "name": "App.a", "value": 1,
                           "event_id": "e-1"})["duplicate"] is True
    assert door.outbox_ids() == []


def test_host_info_gives_the_product_id_and_its_slug(door):
    from app.door.endpoint import host_info

    info = host_info(door.companion.config, door.home)
    assert (info["product"], info["product_slug"]) == ("Acme Pro 7", "acme-pro-7")
