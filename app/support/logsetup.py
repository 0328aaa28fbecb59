"""Logging to a rotating file in the state directory; warnings also to stderr.

Secrets never reach a log line: nothing logs request bodies, and ``SecretFilter`` masks any
registered secret that slips into a message anyway (belt and braces).

The log file is opened when the first record reaches it (``DeferredFileHandler``): most
``track`` calls log nothing, and each is a process of its own, so opening the file and
importing the rotating handler up front would cost every event for nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from app.storage.files import FILE_MODE, private_dir, private_file

LOG_NAME = "companion.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 3


class SecretFilter(logging.Filter):
    """Replaces registered secrets in every record with their masked form."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        """Mask this value from now on (ignored when shorter than 6 characters)."""
        if secret and len(secret) >= 6:
            self.secrets.add(secret)

    def mask(self, text: str) -> str:
        """``text`` with every registered secret masked."""
        for secret in tuple(self.secrets):  # another thread may add one meanwhile
            if secret in text:
                from app.model.wire import mask_secret  # only when there is one to mask

                text = text.replace(secret, mask_secret(secret))
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the formatted message and in the traceback text."""
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        return True


SECRETS = SecretFilter()


def private_file_handler(path: Path) -> logging.Handler:
    """A rotating log at ``path`` whose every file (the current one and each new one after a
    rollover) is readable by the user alone, whatever the umask: log lines name events and
    servers. A line that cannot be written (a full disk) is dropped quietly: the same message
    reaches stderr when it matters, and a traceback there would bury it.

    Raises:
        OSError: the file cannot be opened.
    """
    import logging.handlers  # here: only a process that logs something pays for it

    class PrivateFileHandler(logging.handlers.RotatingFileHandler):
        def _open(self):  # type: ignore[no-untyped-def,unused-ignore]
            private_file(Path(self.baseFilename))
            stream = super()._open()
            os.chmod(self.baseFilename, FILE_MODE)
            return stream

        def handleError(self, record: logging.LogRecord) -> None:
            """Drop the line (see above)."""

    return PrivateFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT,
                              encoding="utf-8")


class DeferredFileHandler(logging.Handler):
    """The log file in ``logs``, opened when the first record at its level reaches it.

    A file that cannot be opened is said once on stderr ("cannot write the log file"), as
    when the directory cannot be made, and every record is then dropped.

    Args:
        path: the log file.
        opener: makes the real handler (``private_file_handler``; tests pass their own).
    """

    def __init__(self, path: Path,
                 opener: Callable[[Path], logging.Handler] = private_file_handler) -> None:
        super().__init__()
        self.path = path
        self._opener = opener
        self._target: logging.Handler | None = None
        self._failed = False

    @property
    def opened(self) -> bool:
        """Whether the file has been opened (a record reached it)."""
        return self._target is not None

    def emit(self, record: logging.LogRecord) -> None:
        """Open the file on first use, then hand the record to it."""
        if self._target is None:
            if self._failed:
                return
            try:
                target = self._opener(self.path)
            except OSError as exc:
                self._failed = True  # before logging: that record comes back here
                logging.getLogger(__name__).warning("cannot write the log file: %s",
                                                    exc.strerror)
                return
            target.setLevel(self.level)
            target.setFormatter(self.formatter)
            self._target = target
        self._target.handle(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the line, as the file's own handler does."""

    def close(self) -> None:
        """Close the file if it was opened."""
        if self._target is not None:
            self._target.close()
        super().close()


def setup_logging(state_dir: Path | None, level: str = "INFO", stderr_level: str = "WARNING") -> None:
    """Configure the root logger once per process.

    The ``logs`` directory is made now (so a state directory that cannot hold it is said at
    once); the file in it when something is first logged.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler()
    console.setLevel(stderr_level)
    console.setFormatter(logging.Formatter("license-companion: %(levelname)s: %(message)s"))
    console.addFilter(SECRETS)
    root.addHandler(console)
    if state_dir is not None:
        try:
            logs = state_dir / "logs"
            private_dir(state_dir, tighten=False)  # the database's opening tightens and says so
            private_dir(logs)
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write the log file: %s", exc.strerror)
        else:
            handler = DeferredFileHandler(logs / LOG_NAME)
            handler.setLevel(level.upper())
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s"))
            handler.addFilter(SECRETS)
            root.addHandler(handler)
    # urllib3 logs full URLs at DEBUG; ours never carry secrets, but keep its noise out.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
