"""The C client's README example builds as C99 and as C++ with every warning an error, and for
Windows with mingw-w64 where it is installed (the Win32 half of the header)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "c"
FLAGS = ["-Wall", "-Wextra", "-Werror", f"-I{CLIENT}"]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    text = (CLIENT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```c\n(.*?)```", text, re.S)
    assert len(blocks) == 1 and "lc_open" in blocks[0]
    path = tmp_path_factory.mktemp("example") / "example.c"
    path.write_text(blocks[0], encoding="utf-8")
    return path


@pytest.mark.parametrize("compiler, extra", [("gcc", ["-std=c99", "-pedantic"]),
                                             ("g++", ["-x", "c++", "-std=c++11"])])
def test_the_readme_example_builds(example, compiler, extra, tmp_path):
    exe = shutil.which(compiler)
    assert exe, f"{compiler} is missing (scripts/install-system-deps.sh installs it)"
    run = subprocess.run([exe, *extra, *FLAGS, str(example), "-o", str(tmp_path / "ex"), "-lm"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_the_header_builds_for_windows_where_mingw_is_installed(example, tmp_path):
    mingw = shutil.which("x86_64-w64-mingw32-gcc")
    if mingw is None:
        pytest.skip("mingw-w64 is not installed here (the Windows lane builds it)")
    run = subprocess.run([mingw, "-std=c99", *FLAGS, str(example), "-o",
                          str(tmp_path / "ex.exe")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
