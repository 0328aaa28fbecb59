"""Where the app writes: one state directory, redirectable for tests and portable installs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from app import APP_ID
from app.storage.files import private_dir

HOME_ENV = "LICENSE_COMPANION_HOME"
CONFIG_ENV = "LICENSE_COMPANION_CONFIG"


def state_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """The directory for the queue, settings and logs (not created here).

    ``--home`` wins over ``LICENSE_COMPANION_HOME``, which wins over the platform's user data
    directory (``~/.local/share/license-companion`` on Linux).
    """
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_ID, appauthor=False, roaming=False))


def ensure_dir(path: Path) -> Path:
    """Create the state directory (private to the user: 0700, tightened if looser) and return it."""
    private_dir(path)
    return path
