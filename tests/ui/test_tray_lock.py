"""The tray's single-instance lock file is private from its first byte (POSIX).

Real files, a real second process holding the lock; the lock's own ``flock`` decides.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from app.tray.instance import LOCK_NAME, SingleInstance

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_lock_file_is_created_0600_not_tightened_later(home, monkeypatch):
    """With the usual umask and no chmod possible afterwards, the file is still 0600: the
    mode was given when the file was created, before the pid and host name were written."""
    old_umask = os.umask(0o022)

    def refuse(*_args, **_kwargs):
        raise PermissionError("a chmod after creation comes too late")

    monkeypatch.setattr(os, "chmod", refuse)
    instance = SingleInstance(home)
    try:
        assert instance.acquire()
        assert mode(home / LOCK_NAME) == 0o600
        assert instance.holder_pid() == os.getpid()
    finally:
        instance.release()
        os.umask(old_umask)


def test_an_existing_loose_lock_file_is_made_private(home):
    path = home / LOCK_NAME
    path.write_text("12345\nold\nhost\n")
    path.chmod(0o644)
    instance = SingleInstance(home)
    try:
        assert instance.acquire()  # a crashed tray's leftover does not block
        assert mode(path) == 0o600
        assert instance.holder_pid() == os.getpid()
    finally:
        instance.release()
    again = SingleInstance(home)
    assert again.acquire()  # released: the next start takes it
    again.release()


def test_another_live_process_holding_the_lock_is_seen(home):
    code = ("import sys, time; from app.tray.instance import SingleInstance; "
            "from pathlib import Path; i = SingleInstance(Path(sys.argv[1])); "
            "print(i.acquire(), flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(home)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        instance = SingleInstance(home)
        assert not instance.acquire()
        assert instance.holder_pid() == holder.pid
    finally:
        holder.kill()
        holder.wait()
    instance = SingleInstance(home)
    assert instance.acquire()  # the kernel let go of the dead holder's lock
    instance.release()
