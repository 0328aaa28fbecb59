"""Finds the ``resources/`` folder in a source tree, an installed wheel or a frozen build."""

from __future__ import annotations

import sys
from pathlib import Path

import app
from app.model.errors import ConfigError


def resources_dir() -> Path:
    """The folder holding the default ``companion.toml``, icons and texts."""
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = []
    if frozen:
        candidates.append(Path(frozen) / "resources")
    package = Path(app.__file__).resolve().parent
    candidates += [package / "resources", package.parent / "resources"]
    for candidate in candidates:
        if (candidate / "companion.toml").is_file():
            return candidate
    raise ConfigError(
        str(candidates[-1] / "companion.toml"), None,
        "the built-in configuration is missing: the installation is incomplete; reinstall "
        f"(looked in {', '.join(str(c) for c in candidates)})",
    )


def resource(name: str) -> Path:
    """The path of one file under ``resources/``."""
    return resources_dir() / name
