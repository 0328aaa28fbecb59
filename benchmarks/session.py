"""A user's session for the tray figures: a private session bus with an unlocked keyring.

A user's desktop has a Secret Service holding the license key; without one the tray starts in
a warning state and shows a "Keyring unavailable" balloon, which is not the idle we measure. The
private bus + gnome-keyring are the test suite's own (tests/keyring_env.py); the bus has no
StatusNotifierWatcher, so Qt docks through XEmbed in trayer for both sides. When gnome-keyring
is not installed, both sides get a bus address that does not exist (nothing auto-launched) and
the note says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.vendor import LICENSE_KEY, prepare_home


@contextmanager
def user_session(tmp: Path, python: str, env: dict[str, str]) -> Iterator[tuple[dict[str, str],
                                                                                 str]]:
    """The environment for ``python -m app`` (consent granted, key stored) and a note on it."""
    service = None
    try:
        from tests.keyring_env import PrivateSecretService, gnome_keyring_binary

        if gnome_keyring_binary() is not None:
            service = PrivateSecretService(tmp / "keyring")
    except ImportError:
        service = None
    if service is None:
        yield prepare_home(tmp, python, env), "no keyring (gnome-keyring not installed), no bus"
        return
    service.start()
    try:
        env = prepare_home(tmp, python, env)
        env = service.client_env(env)
        done = subprocess.run([python, "-m", "app", "license", "set"], input=LICENSE_KEY,
                              env=env, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"`license set` failed: {done.stderr.strip()[-300:]}")
        yield env, "private session bus + unlocked gnome-keyring holding a license key"
    finally:
        service.stop()
