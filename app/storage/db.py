"""The one SQLite file in the state directory: schema version, migrations, corruption handling.

Several writers are expected (the tray's worker, the CLI, later the local socket that takes the
vendor app's events), possibly in several processes. WAL mode with a busy timeout lets them
share the file; every write is one short ``BEGIN IMMEDIATE`` transaction (a nested write is a
savepoint in it); ``synchronous=FULL`` so an event acknowledged by ``track`` survives a power
cut, not just a crash.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from app.model.errors import StorageError
from app.storage.files import environment_problem, private_db_files, private_dir

log = logging.getLogger(__name__)

APPLICATION_ID = 0x4C434F4D  # "LCOM": tells our file from someone else's SQLite file
BUSY_TIMEOUT_MS = 10_000

# Index i holds the SQL that takes the schema from version i to version i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        backend TEXT NOT NULL,
        event_id TEXT NOT NULL,
        category TEXT NOT NULL,
        event TEXT NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_backend ON outbox (backend, seq);
    CREATE INDEX outbox_category ON outbox (category);
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        backend TEXT NOT NULL,
        categories TEXT NOT NULL,
        event_count INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        http_status INTEGER,
        code INTEGER,
        message TEXT NOT NULL,
        errors TEXT,
        signature TEXT NOT NULL,
        event_ids TEXT NOT NULL
    );
    CREATE INDEX history_at ON history (at);
    """,
    # 2: the request as it was sent (secrets masked) kept with its history row; the number of
    # queued events per backend kept by triggers in the very transaction that changes the queue,
    # so the cap never has to count the table; event ids in the category index, so the bound on
    # an undecided category counts its events from the index alone.
    """
    ALTER TABLE history ADD COLUMN request TEXT;
    DROP INDEX outbox_category;
    CREATE INDEX outbox_category ON outbox (category, event_id);
    CREATE TABLE outbox_size (backend TEXT PRIMARY KEY, n INTEGER NOT NULL);
    INSERT INTO outbox_size (backend, n) SELECT backend, count(*) FROM outbox GROUP BY backend;
    CREATE TRIGGER outbox_size_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO outbox_size (backend, n) VALUES (NEW.backend, 1)
        ON CONFLICT (backend) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER outbox_size_delete AFTER DELETE ON outbox BEGIN
        UPDATE outbox_size SET n = n - 1 WHERE backend = OLD.backend;
    END;
    """,
    # 3: a row whose request may have reached the server is marked before the request goes out
    # (``in_flight_since``, its own committed transaction) and counts the requests that never
    # got an answer recorded (``unanswered``), so a resend is known as a possible duplicate and
    # bounded; rows that no longer read back are kept aside, never deleted.
    """
    ALTER TABLE outbox ADD COLUMN in_flight_since REAL;
    ALTER TABLE outbox ADD COLUMN unanswered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE history ADD COLUMN possible_duplicates INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE outbox_quarantine (
        seq INTEGER PRIMARY KEY,
        backend TEXT NOT NULL,
        category TEXT NOT NULL,
        event BLOB,
        problem TEXT NOT NULL,
        at REAL NOT NULL
    );
    """,
    # 4: the queue counted per backend *and category* by the triggers, so "how many of this
    # backend's events wait for a consent the user has not given" (asked by the sender's
    # scheduler after every write) reads a handful of counters instead of scanning the queue;
    # the category index ordered by seq, so a new event is appended to it (one hot page per
    # commit) instead of written into a random page of it (an event id is random).
    """
    CREATE TABLE outbox_count (
        backend TEXT NOT NULL,
        category TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (backend, category)
    ) WITHOUT ROWID;
    INSERT INTO outbox_count (backend, category, n)
        SELECT backend, category, count(*) FROM outbox GROUP BY backend, category;
    DROP TRIGGER outbox_size_insert;
    DROP TRIGGER outbox_size_delete;
    DROP TABLE outbox_size;
    CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO outbox_count (backend, category, n) VALUES (NEW.backend, NEW.category, 1)
        ON CONFLICT (backend, category) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN
        UPDATE outbox_count SET n = n - 1
        WHERE backend = OLD.backend AND category = OLD.category;
    END;
    CREATE TRIGGER outbox_count_update AFTER UPDATE OF backend, category ON outbox BEGIN
        UPDATE outbox_count SET n = n - 1
        WHERE backend = OLD.backend AND category = OLD.category;
        INSERT INTO outbox_count (backend, category, n) VALUES (NEW.backend, NEW.category, 1)
        ON CONFLICT (backend, category) DO UPDATE SET n = n + 1;
    END;
    DROP INDEX outbox_category;
    CREATE INDEX outbox_category ON outbox (category, seq, event_id);
    """,
    # 5: the ids hosts gave their events, each stored at most once (``app.storage.event_ids``):
    # a copy of an event that arrives again by the inbox after a broken connection is known.
    """
    CREATE TABLE host_event_ids (event_id TEXT PRIMARY KEY, seen_at REAL NOT NULL) WITHOUT ROWID;
    CREATE INDEX host_event_ids_seen ON host_event_ids (seen_at);
    """,
    # 6: the names of the events each request carried, kept with its history row (one per
    # event, in the request's order); older rows have none (NULL) and read back as none.
    """
    ALTER TABLE history ADD COLUMN event_names TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class Database:
    """Opens (and if needed creates or repairs) the state database; one connection per thread.

    Args:
        path: the SQLite file; its directory is created if missing.
        busy_timeout_ms: how long to wait for another writer before giving up.
        check_pages: read every page at opening (``PRAGMA quick_check``), moving a file with
            a damaged page aside at once. False (a ``track`` process): only the header and
            the schema are read, which find a foreign, truncated or newer file and a damaged
            schema; a damaged page elsewhere then fails the write with a clear error (the
            event is not taken) and the next opening that checks moves the file aside. The
            check reads the whole file, a cost that grows with the queue.
    """

    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *,
                 check_pages: bool = True) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.check_pages = check_pages
        self.notices: list[str] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        # One writer at a time in this process, queued here: SQLite's own wait for a busy file
        # sleeps 1, 2, 5, 10... ms between looks, which a thread of ours (the host door's
        # group commit behind a sender's write) would pay on top of the write it waits for.
        self._writing = threading.Lock()
        self._ready = False
        self.read_only = ""  # why the file is open read-only ("" = it is not)
        self._live = False  # read-only, but seeing other processes' latest writes

    def _connect(self) -> sqlite3.Connection:
        if self.read_only and self._live:
            # Reads what the running tray wrote a moment ago (its WAL), never writes.
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_ms / 1000,
                                   isolation_level=None)
        if self.read_only:
            return _connect_read_only(self.path, self.busy_timeout_ms)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except BaseException:
            # A damaged or foreign file fails here; the open handle would otherwise live on
            # until garbage collection, and Windows cannot move an open file aside (WinError 32).
            conn.close()
            raise
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opening and migrating the file on first use."""
        self.open()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (``BEGIN IMMEDIATE``), committed or rolled back.

        Nested on the same thread (a ``write()`` inside a ``write()``), the inner block is a
        savepoint: it succeeds or fails alone (a failure rolls back only its own changes and
        re-raises), and nothing is on disk before the outermost block commits. That is how the
        host writer commits a whole group of events with one fsync while each event keeps its
        own all-or-nothing rule.

        Raises:
            StorageError: the file is busy beyond the timeout, read-only, or the disk is full;
                the transaction (or, nested, the savepoint) was rolled back and nothing of it
                is stored.
        """
        if self.read_only:
            raise EnvironmentProblem(f"cannot write the state database: {self.read_only}")
        conn = self.connection()
        depth = getattr(self._local, "depth", 0)
        if depth:
            yield from self._savepoint(conn, depth)
            return
        if not self._writing.acquire(timeout=self.busy_timeout_ms / 1000):
            raise StorageError(f"cannot write the state database {self.path}: another write "
                               f"of this process took over {self.busy_timeout_ms} ms")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise write_error(self.path, exc) from None
            self._local.depth = 1
            try:
                yield conn
                conn.execute("COMMIT")
                after = getattr(self._local, "after_commit", None)
                if after is not None:
                    after()
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise write_error(self.path, exc) from None
                raise
            finally:
                self._local.depth = 0
        finally:
            self._writing.release()

    def _savepoint(self, conn: sqlite3.Connection, depth: int) -> Iterator[sqlite3.Connection]:
        """A nested ``write()``: a savepoint inside the outer transaction."""
        name = f"nested_{depth}"
        conn.execute(f"SAVEPOINT {name}")
        self._local.depth = depth + 1
        try:
            yield conn
            conn.execute(f"RELEASE {name}")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            if isinstance(exc, sqlite3.Error):
                raise write_error(self.path, exc) from None
            raise
        finally:
            self._local.depth = depth

    def after_commits(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` (quick; it must not raise) after each outermost commit on this
        thread; None stops it. ``app.storage.checkpoint`` counts commits with it."""
        self._local.after_commit = callback

    def close(self) -> None:
        """Close this thread's connection (other threads close theirs when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def open(self) -> None:
        """Create, migrate, or move aside a corrupt/foreign file. Idempotent."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._prepare_files()
            try:
                self._migrate()
            except _Unusable as exc:
                moved = self._move_aside(str(exc))
                self.notices.append(
                    f"The state database was unusable ({exc}); it was moved to {moved} "
                    "and a new one was started. Events in it were not sent."
                )
                private_db_files(self.path)
                self._migrate()
            except EnvironmentProblem as exc:
                if not self._open_read_only(str(exc)):
                    raise
            self._ready = True

    def _prepare_files(self) -> None:
        """The directory 0700 (tightened once if looser, with a notice) and the file 0600."""
        try:
            tightened = private_dir(self.path.parent)
        except OSError as exc:
            problem = environment_problem(self.path, exc)
            raise EnvironmentProblem(
                f"cannot create the state directory {self.path.parent}: "
                f"{problem or exc.strerror}") from None
        if tightened:
            self.notices.append(tightened)
        private_db_files(self.path)

    def open_for_reading(self) -> bool:
        """Open an existing file of ours read-only, writing nothing, not even a notice
        (``doctor``). False when there is no such file (nothing ran here yet)."""
        with self._lock:
            if self._ready:
                return True
            if not self._open_read_only("opened only for reading", quiet=True):
                return False
            self._live = True
            self._ready = True
            return True

    def _open_read_only(self, why: str, quiet: bool = False) -> bool:
        """The disk is full or read-only: read what is there so ``status`` still answers.

        Only a file of ours at the current schema can be read as it is; every write then fails
        with ``why``.
        """
        if not self.path.exists():
            return False
        try:
            conn = _connect_read_only(self.path, self.busy_timeout_ms)
            try:
                (app_id,) = conn.execute("PRAGMA application_id").fetchone()
                (version,) = conn.execute("PRAGMA user_version").fetchone()
            finally:
                conn.close()
        except (sqlite3.Error, UnicodeDecodeError):
            return False
        if app_id != APPLICATION_ID or version != SCHEMA_VERSION:
            return False
        self.read_only = why
        if not quiet:
            self.notices.append(f"The state database is open read-only: {why}.")
            log.warning("state database %s opened read-only: %s", self.path, why)
        return True

    def _migrate(self) -> None:
        """Check the file and bring its schema up to date; the connection that did so becomes
        this thread's (opening a second one would create the ``-wal`` and ``-shm`` files the
        first one's closing just removed)."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise _classify(self.path, exc) from None
        except UnicodeDecodeError as exc:
            raise _unreadable_schema(exc) from None
        kept = False
        try:
            try:
                app_id, version, tables = conn.execute(
                    "SELECT application_id, user_version, (SELECT count(*) FROM sqlite_master) "
                    "FROM pragma_application_id, pragma_user_version").fetchone()
                check = conn.execute("PRAGMA quick_check").fetchone()[0] \
                    if self.check_pages else "ok"
            except sqlite3.Error as exc:
                raise _classify(self.path, exc) from None
            except UnicodeDecodeError as exc:
                raise _unreadable_schema(exc) from None
            if check != "ok":
                raise _Unusable(f"integrity check failed: {check}")
            if app_id != APPLICATION_ID and (tables or version):
                raise _Unusable("it is another program's SQLite file")
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} was written by a newer License Companion (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); update the app or use another --home"
                )
            for step in range(version, SCHEMA_VERSION):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {step + 1}")
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK")
                    raise _classify(self.path, exc) from None
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                log.info("state database %s migrated to schema %d", self.path, step + 1)
            if getattr(self._local, "conn", None) is None:
                self._local.conn, kept = conn, True
        finally:
            if not kept:
                conn.close()

    def _move_aside(self, why: str) -> Path:
        import shutil  # only a damaged file is moved

        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.unusable-{stamp}")
        counter = 1
        while target.exists():
            counter += 1
            target = self.path.with_name(f"{self.path.name}.unusable-{stamp}-{counter}")
        shutil.move(str(self.path), target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                shutil.move(str(side), str(target) + suffix)
        log.warning("state database %s unusable (%s); moved aside to %s", self.path, why, target)
        return target


def bump_counter(conn: sqlite3.Connection, key: str, amount: int = 1) -> None:
    """Add to a counter inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO counters (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        (key, amount),
    )


class _Unusable(Exception):
    """The file exists but is not a database of ours."""


class EnvironmentProblem(StorageError):
    """The disk or the account is the problem (full, read-only, no access), not the file."""


def _unreadable_schema(exc: UnicodeDecodeError) -> _Unusable:
    """SQLite's own message about a damaged schema can itself be undecodable bytes."""
    return _Unusable(f"its schema cannot be read (undecodable bytes at {exc.start})")


def _connect_read_only(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection that writes nothing, not even the ``-shm`` file (``immutable``)."""
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)


def write_error(path: Path, exc: sqlite3.Error) -> StorageError:
    """A failed write in words: the disk's problem named, or SQLite's message."""
    problem = environment_problem(path, exc)
    if problem:
        return EnvironmentProblem(f"cannot write the state database: {problem}")
    return StorageError(f"cannot write the state database {path}: {exc}")


# Only these mean the file itself is bad; "locked", "busy", "read-only", "disk full" and
# "cannot open" are the environment's problems, and moving a healthy file aside for them would
# strand every queued event in it.
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def _classify(path: Path, exc: sqlite3.Error) -> Exception:
    """A damaged file becomes ``_Unusable`` (moved aside); anything else a ``StorageError``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _DAMAGED:
        return _Unusable(f"not a usable database: {exc}")
    if "malformed database schema" in str(exc):
        return _Unusable(f"not a usable database: {exc}")
    problem = environment_problem(path, exc)
    if problem:
        return EnvironmentProblem(f"cannot open the state database: {problem}")
    return StorageError(f"cannot open the state database {path}: {exc}")


def _statements(script: str) -> list[str]:
    """Split a migration into statements; a trigger's body (``BEGIN ... END;``) stays whole."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
