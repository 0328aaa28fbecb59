"""Group commit: the events of many host requests written in one SQLite transaction.

Each ``Companion.track`` writes inside its own ``Database.write()``; alone, that is one
``BEGIN IMMEDIATE`` ... ``COMMIT`` and one fsync per event (``synchronous=FULL``). The host
writer thread wraps a whole group in one more ``Database.write()``: nested on the same thread,
each event's write becomes a savepoint, so every event still succeeds or fails alone (a refused
event leaves no trace), ``track`` keeps its own logic unchanged, and the group costs one fsync.
Nothing is acknowledged before the outer ``COMMIT`` returns. Other threads (the worker, the GUI)
have connections of their own and are untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from app.storage.db import Database


@contextlib.contextmanager
def group_transaction(db: Database) -> Iterator[None]:
    """One transaction around everything ``db.write()`` does on this thread inside the block.

    Raises:
        StorageError: the group could not be begun or committed; nothing of it is stored.
    """
    with db.write():
        yield
