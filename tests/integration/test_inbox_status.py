"""What the inbox keeps aside, removes and leaves unread reaches ``status``, and bad lines are
kept once even when a file is taken again after a crash.

Real Companion on real SQLite, real files, the real command line (``cli.main``).
"""

from __future__ import annotations

import json
import os

import pytest

from app import cli
from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.companion_side import CompanionHost
from app.door.door import HostDoor
from app.door.ingest import ingest_inbox
from app.storage.config import load_config
from app.storage.inbox import Inbox
from tests.configs import telemetrydeck, write_vendor_config

pytestmark = pytest.mark.timeout(60)
LINE = b'{"name":"feature.a","value":1}\n'
ROOT = hasattr(os, "getuid") and os.getuid() == 0


def fixed_identity() -> Identity:
    return Identity("u" * 32, "a" * 32, "test", "tester")


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1,
                                 telemetrydeck=telemetrydeck("http://127.0.0.1:9/"))
    home = tmp_path / "home"
    monkeypatch.setenv("LICENSE_COMPANION_HOST_SOCKET", str(tmp_path / "s" / "host.sock"))

    def build(cfg, where):
        return build_companion(cfg, where, identity=fixed_identity, environ={},
                               license_key=lambda: "")

    def run(*args: str) -> int:
        return cli.main(["--home", str(home), "--config", str(config), *args], build=build)

    assert run("consent", "grant") == 0
    return home, config, run, build


def _ingest(home, config, build):
    """The tray's door takes the inbox, then goes away (as its process would)."""
    companion = build(load_config(config), home)
    try:
        return HostDoor(companion).ingest()
    finally:
        companion.close()


def _status(run, capsys) -> tuple[dict, str]:
    capsys.readouterr()
    assert run("status", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert run("status") == 0
    return data, capsys.readouterr().out


def test_status_counts_the_rejected_files_removed_by_the_cap(setup, capsys):
    home, config, run, build = setup
    folder = home / "inbox" / "rejected"
    folder.mkdir(parents=True, mode=0o700)
    for number in range(105):
        old = folder / f"old-{number:03d}.rejected.jsonl"
        old.write_bytes(b"{}\n")
        os.utime(old, (1_000_000 + number, 1_000_000 + number))
    (home / "inbox" / "1-bad.jsonl").write_bytes(b"not json\n")
    assert _ingest(home, config, build).rejected == 1
    (home / "inbox" / "2-bad.jsonl").write_bytes(b"not json either\n")
    assert _ingest(home, config, build).rejected == 1  # another process: the count adds up
    data, text = _status(run, capsys)
    assert data["inbox"]["rejected_removed"] == 7
    assert data["inbox"]["rejected"] == data["inbox_rejected"] == 100
    assert "7 file(s) of bad lines removed" in text


@pytest.mark.skipif(not ROOT, reason="chown to another user needs root")
def test_another_users_inbox_file_is_not_taken_and_is_counted(setup, capsys, tmp_path):
    home, config, run, build = setup
    inbox = home / "inbox"
    inbox.mkdir(parents=True, mode=0o700)
    theirs = inbox / "1-theirs.jsonl"
    theirs.write_bytes(LINE + LINE)
    os.chown(theirs, 65534, 65534)
    elsewhere = tmp_path / "secret.jsonl"
    elsewhere.write_bytes(LINE)
    (inbox / "2-link.jsonl").symlink_to(elsewhere)
    (inbox / "3-ours.jsonl").write_bytes(LINE)
    report = _ingest(home, config, build)
    assert report.accepted == 1  # only this user's regular file
    assert theirs.read_bytes() == LINE + LINE and (inbox / "2-link.jsonl").is_symlink()
    data, text = _status(run, capsys)
    assert data["inbox"]["foreign_owner"] == 1 and data["inbox"]["not_regular"] == 1
    assert "1 file(s) owned by another user left unread" in text
    assert "1 symlink(s) or other non-file(s) left unread" in text


class Crash(BaseException):
    """The process ends here: nothing after it runs, no handler sees it."""


def test_bad_lines_are_kept_once_when_a_file_is_taken_again_after_a_crash(setup, monkeypatch):
    home, config, _run, build = setup
    companion = build(load_config(config), home)
    try:
        inbox = Inbox(home / "inbox")
        inbox.ensure()
        (inbox.path / "1-host.jsonl").write_bytes(LINE + b"not json\n" + LINE + b"{nope\n"
                                                  + b'{"name":"feature.b"')
        real_done = Inbox.done

        def crash(self, item):
            raise Crash  # stored, not yet deleted

        monkeypatch.setattr(Inbox, "done", crash)
        with pytest.raises(Crash):
            ingest_inbox(inbox, CompanionHost(companion))
        assert len(list(inbox.path.glob("*.claimed"))) == 1
        assert inbox.rejected_count() == 3
        monkeypatch.setattr(Inbox, "done", real_done)
        again = ingest_inbox(inbox, CompanionHost(companion))
        assert again.duplicates == 2 and again.rejected == 3
        assert not list(inbox.path.glob("1-host*"))
        assert inbox.rejected_count() == 3  # the same three bad lines, not six
        (kept,) = (inbox.path / "rejected").glob("*.jsonl")
        records = [json.loads(row) for row in kept.read_text("utf-8").splitlines()]
        assert [r["line"] for r in records] == [2, 4, 5]
        assert {r["file"] for r in records} == {"1-host.jsonl"}
    finally:
        companion.close()
