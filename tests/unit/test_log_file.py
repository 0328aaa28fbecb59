"""The log file is opened by the first record that reaches it, private, and never in the way.

A ``track`` that logs nothing opens no file; anything logged at the file's level still lands
in it, masked, 0600; a file that cannot be opened is said once on stderr, never raised.
"""

from __future__ import annotations

import logging
import stat
import sys
from pathlib import Path

import pytest

from app.support.logsetup import LOG_NAME, SECRETS, DeferredFileHandler, setup_logging

KEY = "LOGSECRET-4c74-49f9-b2f1"


@pytest.fixture
def root_logging():
    """setup_logging changes the root logger; put back what pytest had."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def file_handler() -> DeferredFileHandler:
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, DeferredFileHandler)]
    return handler


def test_nothing_logged_no_file_opened(tmp_path, root_logging):
    setup_logging(tmp_path, "INFO")
    logging.getLogger("app.test").debug("below the file's level")
    assert (tmp_path / "logs").is_dir()  # made at once: a directory that cannot be is said
    assert not (tmp_path / "logs" / LOG_NAME).exists()
    assert not file_handler().opened


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX mode bits (on Windows the folder's ACL decides)")
def test_the_first_record_opens_a_private_file_and_lands_in_it(tmp_path, root_logging):
    SECRETS.add(KEY)
    setup_logging(tmp_path, "INFO")
    log = logging.getLogger("app.test")
    log.info("first line with %s", KEY)
    log.warning("second line")
    path = tmp_path / "logs" / LOG_NAME
    logging.getLogger().handlers[-1].flush()
    text = path.read_text(encoding="utf-8")
    assert "INFO app.test: first line" in text and "WARNING app.test: second line" in text
    assert KEY not in text  # masked as before: the filter sits on the deferred handler
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert file_handler().opened


def test_a_file_that_cannot_be_opened_is_said_once_and_dropped(tmp_path, root_logging, capsys):
    setup_logging(tmp_path, "INFO")
    handler = file_handler()
    calls = []

    def refuse(path: Path) -> logging.Handler:
        calls.append(path)
        raise PermissionError(13, "Permission denied")

    handler._opener = refuse
    log = logging.getLogger("app.test")
    log.error("one")
    log.error("two")
    err = capsys.readouterr().err
    assert err.count("cannot write the log file: Permission denied") == 1
    assert "one" in err and "two" in err  # errors still reach stderr
    assert len(calls) == 1 and not handler.opened


def test_a_log_path_taken_by_something_else_is_said_at_the_first_record(tmp_path, root_logging,
                                                                       capsys):
    (tmp_path / "logs").write_text("a file where the directory should be")
    setup_logging(tmp_path, "INFO")
    logging.getLogger("app.test").warning("something to say")
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1 and "something to say" in err
    assert (tmp_path / "logs").read_text() == "a file where the directory should be"
