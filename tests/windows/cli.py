"""The real ``python -m app`` process under the Windows CPython, for the Windows lane's tests."""

from __future__ import annotations

import locale
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without DO_NOT_TRACK, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    env.update(QT_QPA_PLATFORM="offscreen", **extra)
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str = "",
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """One CLI process; stdin, stdout and stderr are pipes (never a console or a file).

    Python writes to a pipe on Windows in the ANSI code page (as a Windows program reading it
    expects), so that is how the output is read.
    """
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, input=stdin, text=True,
                          encoding=locale.getpreferredencoding(False), capture_output=True,
                          timeout=timeout, cwd=ROOT)
