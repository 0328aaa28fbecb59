"""Secrets never reach the terminal or a log, even by accident."""

import logging
import subprocess
import sys

import pytest

from app.logsetup import SecretFilter

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


def test_log_filter_masks_messages_and_tracebacks():
    secrets = SecretFilter()
    secrets.add(KEY)
    logger = logging.getLogger("test.secrets")
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(secrets)
    logger.addHandler(handler)
    try:
        logger.warning("key is %s", KEY)
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "ValueError" in text and "SECR…49f9" in text
    assert KEY not in text
