"""Logging to a rotating file in the state directory; warnings also to stderr.

Secrets never reach a log line: nothing logs request bodies, and ``SecretFilter`` masks any
registered secret that slips into a message anyway (belt and braces).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from app.model.wire import mask_secret
from app.storage.files import FILE_MODE, private_dir, private_file

LOG_NAME = "companion.log"


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


class PrivateFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the current one and each new one after a rollover)
    is readable by the user alone, whatever the umask: log lines name events and servers."""

    def _open(self):  # type: ignore[no-untyped-def,unused-ignore]
        private_file(Path(self.baseFilename))
        stream = super()._open()
        os.chmod(self.baseFilename, FILE_MODE)
        return stream

    def handleError(self, record: logging.LogRecord) -> None:
        """A log line that cannot be written (a full disk) is dropped quietly: the same
        message reaches stderr when it matters, and a traceback there would bury it."""


def setup_logging(state_dir: Path | None, level: str = "INFO", stderr_level: str = "WARNING") -> None:
    """Configure the root logger once per process."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
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
            handler = PrivateFileHandler(
                logs / LOG_NAME, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write the log file: %s", exc.strerror)
        else:
            handler.setLevel(level.upper())
            handler.setFormatter(fmt)
            handler.addFilter(SECRETS)
            root.addHandler(handler)
    # urllib3 logs full URLs at DEBUG; ours never carry secrets, but keep its noise out.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
