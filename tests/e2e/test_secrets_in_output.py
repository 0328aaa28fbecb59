"""A key typed on the command line by mistake is never echoed by the real CLI process."""

import subprocess
import sys

import pytest

KEY = "SECRETKEY-9cc2cc83-4c74-49f9"


@pytest.mark.parametrize(
    "argv",
    [
        ["license", "set", f"-{KEY}"],
        ["license", "set", KEY],
        ["license", "set", "--", KEY],
        ["status", f"--key={KEY}"],
        ["track", "feature.x", "--value", "1", KEY],
    ],
)
def test_a_key_on_the_command_line_is_never_echoed(tmp_path, argv):
    proc = subprocess.run([sys.executable, "-m", "app", "--home", str(tmp_path), *argv],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert KEY not in proc.stdout and KEY not in proc.stderr
    assert KEY[3:-3] not in proc.stderr
