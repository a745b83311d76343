"""The database: one engine per app, one connection per request, Alembic migrations."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import sqlite3
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def database_url(app: Flask) -> str:
    """Return the configured database URL, defaulting to an SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return url
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path) / 'dlcs.sqlite3'}"


class Generation:
    """A number that every commit to one database changes, shared by this host's processes.

    It lives in a small file mapped into the memory of every process that uses the database
    (the web workers, the CLI, ingest workers), so reading it costs no system call. A commit
    writes a new random value rather than adding one: of two commits at once, each leaves a
    value that no reader has seen before. What was read from the database under one value
    is as new as the database for as long as the value stays the same.
    """

    def __init__(self, path: Path | None) -> None:
        if path is None:  # nothing to share (a database in memory): this process alone
            self._map = mmap.mmap(-1, 8)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < 8:
                    os.ftruncate(fd, 8)  # (a file another process sized already keeps its value)
                self._map = mmap.mmap(fd, 8)
            finally:
                os.close(fd)

    def current(self) -> int:
        """Return the value now."""
        return int.from_bytes(self._map[:8], "little")

    def advance(self) -> None:
        """Note a commit: give the value one nobody has read."""
        self._map[:8] = os.urandom(8)


_GENERATIONS: dict[Path | None, Generation] = {}
_GENERATIONS_LOCK = threading.Lock()


def _generation_at(path: Path | None) -> Generation:
    with _GENERATIONS_LOCK:
        found = _GENERATIONS.get(path)
        if found is None:
            found = _GENERATIONS[path] = Generation(path)
        return found


def _sqlite_file(database: str) -> bool:
    # Whether an SQLite database is a file other processes can open, so the files kept
    # beside it (the writers' lock, the generation) are shared with them.
    return bool(database) and database != ":memory:" and not database.startswith("file:")


def _sqlite_generation(database: str) -> Generation:
    if not _sqlite_file(database):
        return _generation_at(None)  # (no other process can open it)
    return _generation_at(Path(f"{Path(database).resolve()}-generation"))


def generation_of(url: URL | str) -> Generation:
    """Return the generation of a database, as every process of this host finds it.

    SQLite's is a file beside the database (every process that opens the database can reach
    it). A server database's is in the temporary folder, named after its server, port and
    database name, so the processes of this host that use the same database share it.
    """
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_generation(url.database or "")
    where = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:24]
    path = Path(tempfile.gettempdir()) / f"dlcs-{digest}.generation"
    try:
        return _generation_at(path)
    except OSError as exc:  # (another user's file, say): this process's commits alone
        log.warning(
            "%s cannot be shared (%s): a GET answered again may miss a commit made by another "
            "process for up to DLCS_RESPONSE_CACHE_SECONDS",
            path,
            exc,
        )
        return _generation_at(None)


class SignallingConnection(psycopg.Connection):
    """A psycopg connection that advances its database's generation after each commit."""

    generation: Generation

    def commit(self) -> None:
        super().commit()
        self.generation.advance()


class QueuedWriterConnection(sqlite3.Connection):
    """An SQLite connection whose write transactions queue on a lock file.

    SQLite lets one writer in at a time and makes the others poll, sleeping up to 100 ms
    between tries, so under concurrent writes most of a writer's time is spent asleep after
    the lock was free. Writers of every thread and process instead wait on an exclusive
    flock(2) of a file beside the database, which the kernel hands to the next waiter the
    moment it is released; BEGIN IMMEDIATE then finds the database free.
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._generation = _sqlite_generation(str(database))
        self._lock_file: int | None = None
        if _sqlite_file(str(database)):
            self._lock_file = os.open(f"{database}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._locked = False

    def begin_write(self) -> None:
        """Wait for the other writers, then begin an immediate (write) transaction."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)  # waits without holding the GIL
            self._locked = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._unlock()
        self._generation.advance()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._unlock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._unlock()
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None


def _timeout_options(statement_timeout: float) -> dict[str, Any]:
    # A statement that runs longer is cancelled by the server itself (QueryCanceled).
    milliseconds = max(0, round(statement_timeout * 1000))
    return {"options": f"-c statement_timeout={milliseconds}"} if milliseconds else {}


def make_engine(url: str, statement_timeout: float = 0) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write transactions that queue.

    ``statement_timeout`` (seconds, PostgreSQL): how long a statement may run; 0: as long
    as it takes.
    """
    if not url.startswith("sqlite"):
        return _server_engine(url, statement_timeout)
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False, "factory": QueuedWriterConnection},
        pool_size=10,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Reads map the file (up to 1 GiB) instead of copying each page in with a system
        # call, and each connection caches 16 MB of pages rather than 2: beside a million
        # images, a GET of one cost 20% less CPU and a page of 100 40% less (bench/).
        cursor.execute("PRAGMA mmap_size=1073741824")
        cursor.execute("PRAGMA cache_size=-16000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the write lock up front (after the lock file), so two writers
        # queue instead of deadlocking when both upgrade a read lock. A reader of a
        # request that cannot write needs no transaction: each SELECT reads a snapshot.
        write = conn.info.get("write")
        if write:
            conn.connection.driver_connection.begin_write()
        elif write is None:
            conn.exec_driver_sql("BEGIN")

    return engine


def _server_engine(url: str, statement_timeout: float) -> Engine:
    # As on SQLite, the driver's connections are in autocommit mode and the transactions are
    # begun here, on SQLAlchemy's begin event: a statement run outside one (a plain read, or
    # a write that is one statement) is its own transaction, with no BEGIN and COMMIT
    # round trips, and a connection whose transaction ended has nothing to reset. A
    # connection asked for AUTOCOMMIT (VACUUM, CREATE DATABASE) begins nothing.
    # No pre-ping (a round trip per request); stale connections are recycled instead.
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
        connect_args=_timeout_options(statement_timeout),
    )
    signal_commits(engine)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN")

    return engine


def signal_commits(engine: Engine) -> None:
    """Make every commit through a PostgreSQL engine advance its database's generation."""
    generation = generation_of(engine.url)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> SignallingConnection:
        conn = SignallingConnection.connect(*cargs, **cparams)
        conn.generation = generation
        return conn


def alembic_config(url: str) -> AlembicConfig:
    """Return an Alembic configuration for the migrations shipped with the app."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def schema_fault(engine: Engine) -> str | None:
    """Return what is wrong with the database's schema for this app, in one line; None if nothing.

    The database's URL is shown without its password.
    """
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    expected = set(script.get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == expected:
        return None
    where = engine.url.render_as_string(hide_password=True)
    state = f"is at revision {', '.join(sorted(current))}" if current else "has no tables yet"
    return (
        f"the database at {where} {state}, not {', '.join(sorted(expected))}: "
        "it is not migrated; run `dlcs db upgrade`"
    )


# The key of PostgreSQL's advisory lock that migrations take (any number; this one is ours).
MIGRATION_LOCK = 0x444C4353  # "DLCS"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` on the database of ``engine``.

    Processes that start together (a server's workers on a new database) migrate one after
    the other: each waits for a lock, then finds what is left to do, if anything.
    """
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with _migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # (an index on many rows)
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    # SQLite: an flock of a file beside the database, held until the migration is committed
    # (PostgreSQL's lock is taken inside the migration's transaction).
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or not _sqlite_file(database):
        yield
        return
    fd = os.open(f"{database}-migrations.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


class IdleConnections:
    """Connections kept open from one request to the next, for reads or for writes.

    Checking a connection out of SQLAlchemy's pool and back in costs about what a read by
    key does, so a request takes an idle connection from here instead: requests that
    cannot write from the readers (on PostgreSQL the autocommit engine: no BEGIN, no
    ROLLBACK round trips; on SQLite they never begin a transaction, so each read sees the
    latest commit), the others from the writers. A connection comes back with no
    transaction open (what was not committed is rolled back, as the pool would). It goes
    back to the pool when it was invalidated, when it has been out longer than ``max_age``
    seconds (as pool_recycle would), or when ``size`` are idle already.
    """

    def __init__(
        self, engine: Engine, *, write: bool, size: int = 8, max_age: float = 600.0
    ) -> None:
        self.engine, self.write, self.size, self.max_age = engine, write, size, max_age
        self.idle: deque[tuple[float, Connection]] = deque()  # append and pop are atomic

    def take(self) -> Connection:
        """Return an idle connection, or a new one from the pool."""
        now = time.monotonic()
        while True:
            try:
                since, conn = self.idle.pop()
            except IndexError:
                break
            if now - since < self.max_age and not conn.invalidated:
                conn.info["taken"] = since
                return conn
            self._release(conn)
        conn = self.engine.connect()
        conn.info["write"] = self.write
        conn.info["taken"] = now
        return conn

    def give_back(self, conn: Connection) -> None:
        """Keep a connection for the next request, or return it to the pool."""
        if conn.in_transaction():
            conn.rollback()  # (for a reader, SQLAlchemy's own bookkeeping: nothing was begun)
        # (A statement outside a transaction begins none: the drivers are in autocommit
        # mode, and transactions are begun on SQLAlchemy's begin event; see make_engine.)
        if conn.invalidated or len(self.idle) >= self.size:
            self._release(conn)
            return
        # (A connection that reconnected during the request has a new, empty info.)
        conn.info["write"] = self.write
        self.idle.append((conn.info.setdefault("taken", time.monotonic()), conn))

    def close(self) -> None:
        """Return every idle connection to the pool."""
        while self.idle:
            self._release(self.idle.pop()[1])

    @staticmethod
    def _release(conn: Connection) -> None:
        conn.info.pop("write", None)
        conn.info.pop("taken", None)
        conn.close()


def connection() -> Connection:
    """Return this request's connection, opening it on first use."""
    conn = g.get("db")
    if conn is None:
        if has_request_context():
            kind = "dlcs.reads" if request.method in SAFE_METHODS else "dlcs.writes"
            conn = current_app.extensions[kind].take()
            g.db_idle = kind
        else:
            conn = current_app.extensions["dlcs.engine"].connect()
            conn.info["write"] = None  # a plain transaction, outside requests
        g.db = conn
    return conn


def commit(conn: Connection) -> None:
    """Commit a request's writes: its transaction, or a write that ran outside one.

    A statement run outside a transaction (see :func:`dbapi_cursor`) committed by itself; the
    driver's commit then sends nothing, but notes the commit as every other (the generation).
    """
    if conn.in_transaction():
        conn.commit()
    else:
        conn.connection.driver_connection.commit()


def dbapi_cursor(conn: Connection, *, begin: bool = True) -> Any:
    """Return a cursor of the driver's own connection under ``conn``.

    For a statement that writes or locks (``begin``), a connection that may write begins its
    transaction first (BEGIN IMMEDIATE on SQLite), exactly as its first SQLAlchemy statement
    would have. Any other statement runs in the transaction if one is open, else on its own:
    a plain read reads the latest committed state, as it would under PostgreSQL's READ
    COMMITTED, without taking SQLite's write lock any earlier than needed.

    A psycopg connection keeps one cursor for all its statements: psycopg sets up each new
    cursor's adapters (about what a read by key costs in the driver itself), and reads each
    result whole, so nothing is left on the cursor from one statement to the next. SQLite
    gets a new cursor each time (one that has not read all its rows keeps a read
    transaction open), which :func:`done_with` closes.
    """
    if begin and conn.info.get("write") is not False and not conn.in_transaction():
        conn.begin()
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        return driver.cursor()
    cursor = conn.info.get("cursor")
    if cursor is None or cursor.connection is not driver:  # (none yet, or it reconnected)
        cursor = conn.info["cursor"] = driver.cursor()
    return cursor


def done_with(cursor: Any) -> None:
    """Close a cursor of :func:`dbapi_cursor` unless its connection keeps it."""
    if not isinstance(cursor, psycopg.Cursor):
        cursor.close()


def dispose(app: Flask) -> None:
    """Close every pooled connection of an app (tests and tools that build many apps)."""
    for name in ("dlcs.reads", "dlcs.writes"):
        if name in app.extensions:
            app.extensions[name].close()
    for name in ("dlcs.engine", "dlcs.reader"):
        if name in app.extensions:
            app.extensions[name].dispose()


def _close(_exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is None:
        return
    kind = g.pop("db_idle", None)
    if kind is not None:
        current_app.extensions[kind].give_back(conn)
    else:
        conn.info.pop("write", None)
        conn.close()  # rolls back whatever was not committed


def init_app(app: Flask) -> None:
    """Create the engine, migrate the embedded default if asked, close connections at teardown."""
    url = database_url(app)
    timeout = float(app.config.get("STATEMENT_TIMEOUT", 0))
    engine = make_engine(url, timeout)
    app.extensions["dlcs.engine"] = engine
    if engine.dialect.name == "postgresql":
        # Autocommit: no transaction to reset when a connection goes back to the pool.
        app.extensions["dlcs.reader"] = create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            pool_recycle=1800,
            pool_size=10,
            max_overflow=20,
            connect_args=_timeout_options(timeout),
        )
    reads = app.extensions.get("dlcs.reader", engine)
    app.extensions["dlcs.reads"] = IdleConnections(reads, write=False)
    app.extensions["dlcs.writes"] = IdleConnections(engine, write=True)
    auto = app.config.get("AUTO_MIGRATE")
    if auto is None:  # an SQLite database is embedded: migrated by whoever opens it
        auto = engine.dialect.name == "sqlite"
    if auto:
        upgrade(engine)
    app.teardown_appcontext(_close)
