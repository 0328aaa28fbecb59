"""The inbox reads only regular files of this user: a symlink placed there or another user's
file is never followed or read; the rejected/ folder is private whatever the umask."""

from __future__ import annotations

import os
import stat

import pytest

from app.core.identity import Identity
from app.core.wiring import build_companion
from app.door.companion_side import CompanionHost
from app.door.ingest import ingest_inbox
from app.storage.config import load_config
from app.storage.inbox import Inbox
from tests.configs import write_vendor_config

pytestmark = pytest.mark.timeout(60)
LINE = b'{"name":"feature.a","value":1}\n'


@pytest.fixture()
def companion(tmp_path):
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1)
    comp = build_companion(load_config(config), tmp_path / "home",
                           identity=lambda: Identity("u" * 32, "a" * 32, "t", "t"),
                           environ={}, license_key=lambda: "")
    comp.grant(None)
    yield comp
    comp.close()


def test_a_symlink_in_the_inbox_is_not_followed(companion, tmp_path):
    secret = tmp_path / "elsewhere.jsonl"
    secret.write_bytes(LINE)
    inbox = Inbox(companion.home / "inbox")
    inbox.ensure()
    (inbox.path / "1-link.jsonl").symlink_to(secret)
    (inbox.path / "2-real.jsonl").write_bytes(LINE)
    report = ingest_inbox(inbox, CompanionHost(companion))
    assert report.accepted == 1
    assert secret.read_bytes() == LINE and (inbox.path / "1-link.jsonl").is_symlink()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="chown needs root")
def test_another_users_file_is_not_read(companion):
    inbox = Inbox(companion.home / "inbox")
    inbox.ensure()
    theirs = inbox.path / "1-theirs.jsonl"
    theirs.write_bytes(LINE + LINE)
    os.chown(theirs, 65534, 65534)
    assert ingest_inbox(inbox, CompanionHost(companion)).accepted == 0
    assert theirs.read_bytes() == LINE + LINE


def test_rejected_folder_is_private_whatever_the_umask(companion):
    inbox = Inbox(companion.home / "inbox")
    inbox.ensure()
    (inbox.path / "1-bad.jsonl").write_bytes(b"not json\n")
    old = os.umask(0)
    try:
        assert ingest_inbox(inbox, CompanionHost(companion)).rejected == 1
    finally:
        os.umask(old)
    assert stat.S_IMODE((inbox.path / "rejected").stat().st_mode) == 0o700


def test_rejected_folder_keeps_at_most_100_files_oldest_removed_first(companion):
    inbox = Inbox(companion.home / "inbox")
    inbox.ensure()
    folder = inbox.path / "rejected"
    folder.mkdir(mode=0o700)
    for number in range(105):
        old = folder / f"old-{number:03d}.rejected.jsonl"
        old.write_bytes(b"{}\n")
        os.utime(old, (1_000_000 + number, 1_000_000 + number))
    (inbox.path / "1-bad.jsonl").write_bytes(b"not json\n")
    assert ingest_inbox(inbox, CompanionHost(companion)).rejected == 1
    names = sorted(path.name for path in folder.glob("*.jsonl"))
    assert len(names) == 100
    assert inbox.rejected_removed == 6
    assert "old-005.rejected.jsonl" not in names and "old-006.rejected.jsonl" in names
    assert any(name.startswith("1-bad.") and name.endswith(".rejected.jsonl") for name in names)


def test_rejected_folder_is_capped_by_size(tmp_path):
    from app.storage.rejected_cap import cap_folder

    for number in range(4):
        path = tmp_path / f"{number}.jsonl"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 + number, 1_000_000 + number))
    assert cap_folder(tmp_path, "*.jsonl", max_bytes=2500) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["2.jsonl", "3.jsonl"]


def test_a_file_taken_again_after_a_crash_stores_nothing_twice(companion):
    inbox = Inbox(companion.home / "inbox")
    inbox.ensure()
    data = b"".join(b'{"name":"feature.a","value":%d}\n' % n for n in range(5))
    (inbox.path / "1-host.jsonl").write_bytes(data)
    first = ingest_inbox(inbox, CompanionHost(companion))
    assert first.accepted == 5 and first.duplicates == 0
    queued = companion.outbox.counts()
    # a crash between the commit and the delete leaves the same host file to be read again
    (inbox.path / "1-host.jsonl").write_bytes(data)
    again = ingest_inbox(inbox, CompanionHost(companion))
    assert again.accepted == 5 and again.duplicates == 5 and not again.not_kept
    assert companion.outbox.counts() == queued
    assert not list(inbox.path.glob("1-host*"))


def _peak_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for row in status:
            if row.startswith("VmHWM:"):
                return int(row.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
@pytest.mark.timeout(600)
def test_a_large_inbox_file_is_read_in_bounded_memory(companion):
    inbox = Inbox(companion.home / "inbox")
    inbox.ensure()
    line = b'{"name":"feature.a","value":1,"props":{"pad":"' + b"x" * 3900 + b'"}}\n'
    block = line * 256
    with open(inbox.path / "1-big.jsonl", "wb") as out:
        for _ in range(200):  # about 200 MB
            out.write(block)
    before = _peak_rss_kib()
    report = ingest_inbox(inbox, CompanionHost(companion))
    growth_mib = (_peak_rss_kib() - before) / 1024
    assert report.accepted + report.rejected == 200 * 256
    assert growth_mib < 50, growth_mib
