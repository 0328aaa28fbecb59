"""Running the command line as a second OS user (``nobody``), from wherever the repo is cloned.

A clone may sit in a folder only its owner can enter (``mktemp -d``, ``/root``); ``nobody`` then
reaches neither the checkout nor its ``.venv``. ``readable_install`` puts what ``nobody`` needs
in a folder the test made readable: the package and its resources, and a copy of the installed
dependencies it imports (Qt left out: no command run this way loads it). The interpreter is the
one the venv's ``python`` links to, which must itself be readable by ``nobody``; when it is not,
the answer is the reason, for the test to skip with.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
ROOT = Path(__file__).resolve().parents[1]
PROJECT = "license-companion"
NOT_COPIED = ("pyside6", "shiboken6")  # Qt: hundreds of MB, and never imported by the CLI
IMPORTS = "import app.cli, app.cli.license, app.core.wiring, keyring, cryptography, platformdirs"


@dataclass(frozen=True)
class Install:
    """How ``nobody`` runs ``python -m app``: this interpreter with this ``PYTHONPATH``."""

    python: Path
    pythonpath: Path


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dependencies() -> list[metadata.Distribution]:
    """The installed distributions the project needs at run time (requirements, recursively).

    A requirement that is not installed is one for another platform or Python version.
    """
    found: dict[str, metadata.Distribution] = {}
    todo = [PROJECT]
    while todo:
        name = todo.pop()
        key = _key(name)
        if key in found or key.startswith(NOT_COPIED):
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                match = re.match(r"[A-Za-z0-9._-]+", requirement)
                if match:
                    todo.append(match.group())
    found.pop(PROJECT, None)
    return list(found.values())


def _copy_distribution(dist: metadata.Distribution, lib: Path) -> None:
    base = Path(str(dist.locate_file("")))
    for file in dist.files or []:
        if file.parts and file.parts[0] == "..":  # scripts outside site-packages
            continue
        source = base / file
        if source.is_file() and "__pycache__" not in file.parts:
            target = lib / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run_as_nobody(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AS_NOBODY, *argv], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env)


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


def readable_install(folder: Path) -> Install | str:
    """Fill ``folder`` (which ``nobody`` can read) with what it needs to run the CLI.

    Returns:
        The interpreter and ``PYTHONPATH`` to use, or why it cannot be arranged (the
        interpreter itself is out of ``nobody``'s reach). ``folder``'s parents must be
        enterable by everyone.
    """
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    folder.chmod(0o755)
    python = Path(getattr(sys, "_base_executable", sys.executable))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}
    probe = _run_as_nobody([str(python), "-I", "-c", "import encodings, sqlite3, ssl"], folder, env)
    if probe.returncode != 0:
        return (f"user nobody cannot run this Python interpreter ({python}): "
                f"{_last_line(probe)}; install Python where every user can read it")
    lib = folder / "lib"
    for dist in _dependencies():
        _copy_distribution(dist, lib)
    for name in ("app", "resources"):
        shutil.copytree(ROOT / name, lib / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    probe = _run_as_nobody([str(python), "-c", IMPORTS], folder, {**env, "PYTHONPATH": str(lib)})
    # Arranged, so it must work: a failure here is a bug in this copy, not a reason to skip.
    assert probe.returncode == 0, f"nobody cannot import the copied modules: {probe.stderr}"
    return Install(python, lib)
