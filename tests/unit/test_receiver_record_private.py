"""``receiver --record`` keeps what it writes to this user: the file 0600, a new folder 0700."""

from __future__ import annotations

import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

from app.receiver import TelemetryDeckReceiver


def test_record_file_and_folder_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        record = tmp_path / "rec" / "requests.jsonl"
        with TelemetryDeckReceiver("127.0.0.1", 0, record=record) as rx:
            req = urllib.request.Request(rx.base_url + "/v2/", data=b"[]", method="POST")
            try:
                urllib.request.urlopen(req, timeout=10).close()
            except urllib.error.HTTPError:
                pass  # any answer is recorded
    finally:
        os.umask(old)
    assert record.read_text(encoding="utf-8").strip()
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o700
