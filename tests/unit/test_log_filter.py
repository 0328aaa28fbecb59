"""The log filter masks secrets in messages and tracebacks."""

import logging

from app.support.logsetup import SecretFilter

KEY = "SECRETKEY-9cc2cc83-4c74-49f9"


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
