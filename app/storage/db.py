"""The database: one engine per app, one connection per request, Alembic migrations.

As Flask's tutorial does, a request opens its connection on first use, keeps it on ``g`` and
closes it at teardown (what was not committed is rolled back). Requests that cannot write
(GET, HEAD, OPTIONS) read through a second engine of the same database in autocommit mode:
each statement reads the latest commit, with no BEGIN and ROLLBACK around it. Every other
request writes in one transaction, begun ``IMMEDIATE`` on SQLite (SQLAlchemy's recipe for
the pysqlite driver), so that two writers wait for SQLite's write lock (its busy timeout, 30 s)
instead of deadlocking when both upgrade a read lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Connection, Engine, create_engine, event

MIGRATIONS = Path(__file__).parents[1] / "migrations"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def database_url(app: Flask) -> str:
    """Return the configured database URL, defaulting to an SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return url
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path) / 'dlcs.sqlite3'}"


def make_engine(url: str, statement_timeout: float = 0, *, autocommit: bool = False) -> Engine:
    """Create an engine: SQLite with WAL and foreign keys, PostgreSQL with a statement timeout.

    ``statement_timeout`` (seconds, PostgreSQL): how long a statement may run before the
    server cancels it; 0: as long as it takes. ``autocommit``: every statement is its own
    transaction (for reads); the pool then has nothing to reset when a connection comes back.
    """
    # (The pool's own sizes: 5 connections kept per engine and process, 10 more at a peak.)
    options: dict[str, Any] = {}
    if autocommit:
        options.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    if url.startswith("sqlite"):
        # (``timeout``: the driver's busy timeout, how long a writer waits for the lock.)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **options
        )
        _sqlite_setup(engine, begin=not autocommit)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+psycopg:") or url.startswith("postgresql:"):
        # psycopg prepares a statement on the server once it has run this often on a
        # connection; the API runs the same few statements on every request.
        connect_args["prepare_threshold"] = 2
    milliseconds = max(0, round(statement_timeout * 1000))
    if milliseconds:
        connect_args["options"] = f"-c statement_timeout={milliseconds}"
    # A connection the server dropped (a restart, an idle timeout) is found by the pool's
    # ping when it is checked out, and replaced, so no request fails on it.
    return create_engine(
        url, pool_pre_ping=True, pool_recycle=1800, connect_args=connect_args, **options
    )


def _sqlite_setup(engine: Engine, *, begin: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver begins nothing: see _begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if begin:

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A connection asked for AUTOCOMMIT (migrations' VACUUM, say) begins nothing.
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_file(database: str) -> bool:
    # Whether an SQLite database is a file other processes can open (a lock file beside it).
    return bool(database) and database != ":memory:" and not database.startswith("file:")


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


def connection() -> Connection:
    """Return this request's connection (outside a request, the CLI's), opening it on first use."""
    conn = g.get("db")
    if conn is None:
        reads = has_request_context() and request.method in SAFE_METHODS
        conn = g.db = current_app.extensions["dlcs.reader" if reads else "dlcs.engine"].connect()
    return conn


def dispose(app: Flask) -> None:
    """Close every pooled connection of an app (tests and tools that build many apps)."""
    for name in ("dlcs.engine", "dlcs.reader"):
        if name in app.extensions:
            app.extensions[name].dispose()


def _close(_exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()  # rolls back whatever was not committed


def init_app(app: Flask) -> None:
    """Create the engines, migrate the embedded default if asked, close connections at teardown."""
    url = database_url(app)
    timeout = float(app.config.get("STATEMENT_TIMEOUT", 0))
    engine = app.extensions["dlcs.engine"] = make_engine(url, timeout)
    app.extensions["dlcs.reader"] = make_engine(url, timeout, autocommit=True)
    auto = app.config.get("AUTO_MIGRATE")
    if auto is None:  # an SQLite database is embedded: migrated by whoever opens it
        auto = engine.dialect.name == "sqlite"
    if auto:
        upgrade(engine)
    app.teardown_appcontext(_close)
