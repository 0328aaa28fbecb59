"""A full disk and a read-only disk, for real (a small tmpfs), through the real CLI.

Each failure must name what happened and what to do, and ``status`` must still answer from
what is on disk. Mounting needs root and a sandbox that allows it; otherwise these tests skip
and say so.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_hostile_state import queue, receiver, run, setup  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(180)


@pytest.fixture()
def tmpfs(tmp_path):
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this sandbox does not allow mount: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.fixture()
def on_tmpfs(setup, tmpfs):  # noqa: F811
    config, _, env = setup
    home = tmpfs / "home"
    env = {**env, "LICENSE_COMPANION_HOME": str(home)}
    queue(config, home, 3)
    return config, home, env


def fill(disk: Path) -> None:
    """Write until the filesystem says ENOSPC."""
    with contextlib.suppress(OSError), open(disk / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()


def test_a_full_disk_is_named_and_status_still_answers(on_tmpfs, tmpfs):
    _, _, env = on_tmpfs
    fill(tmpfs)
    code, out, err = run(env, "track", "feature.y", "--value", "1")
    assert code != 0
    assert "is full" in err and "Free some space" in err, err
    assert "disk I/O error" not in err
    code, out, err = run(env, "status")
    assert code == 0, out + err
    assert "queued 3" in out


def test_a_read_only_disk_is_named_and_status_still_answers(on_tmpfs, tmpfs):
    _, _, env = on_tmpfs
    done = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
    code, out, err = run(env, "track", "feature.y", "--value", "1")
    assert code != 0
    assert "read-only" in err and "unable to open database file" not in err, err
    code, out, err = run(env, "status")
    assert code == 0, out + err
    assert "queued 3" in out and "read-only" in out


def test_a_state_dir_this_account_may_not_write_is_named(setup, tmp_path):  # noqa: F811
    _, _, env = setup
    locked = tmp_path / "locked"
    locked.mkdir()
    try:
        subprocess.run(["chattr", "+i", str(locked)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"chattr +i is not available here: {exc}")
    try:
        env = {**env, "LICENSE_COMPANION_HOME": str(locked / "home")}
        code, _, err = run(env, "track", "feature.y", "--value", "1")
        assert code != 0
        assert "may not write to" in err, err
    finally:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True)
