"""Where the app writes: one state directory, redirectable for tests and portable installs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    if sys.platform.startswith("linux"):
        # platformdirs' own rule on Linux (XDG), without importing it and ``platform`` into
        # every short-lived ``track`` process; a unit test keeps the two the same.
        data = os.environ.get("XDG_DATA_HOME", "").strip()
        base = Path(data) if data and os.path.isabs(data) else Path.home() / ".local" / "share"
        return base / APP_ID
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_ID, appauthor=False, roaming=False))


def ensure_dir(path: Path) -> Path:
    """Create the state directory (private to the user: 0700, tightened if looser) and return it."""
    private_dir(path)
    return path
