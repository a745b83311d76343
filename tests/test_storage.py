"""Storage: migrations match the tables, the embedded default migrates itself, races are safe."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg.pq import TransactionStatus
from sqlalchemy import inspect

from app import create_app
from app.models import metadata
from tests.conftest import BASE


def test_migrations_produce_exactly_the_declared_tables(app):
    engine = app.extensions["dlcs.engine"]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_first_start_on_an_empty_instance_folder(tmp_path, monkeypatch):
    import flask

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DLCS_EMBEDDED_WORKER", "false")
    monkeypatch.setattr(
        flask.Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance")
    )
    app = create_app()
    engine = app.extensions["dlcs.engine"]
    assert str(tmp_path / "instance" / "dlcs.sqlite3") in str(engine.url)
    assert "images" in inspect(engine).get_table_names()
    response = app.test_client().get("/thumbnailpolicies/default")
    assert response.status_code == 200
    engine.dispose()


def test_two_concurrent_puts_creating_one_image_give_201_and_200(app, alice):
    url = f"/customers/{alice.customer}/spaces/1/images/race"
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def put(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.put(url, json={"string1": f"writer{n}"}, headers=alice.headers)
        statuses.append(r.status_code)

    for _round in range(3):
        statuses.clear()
        alice.delete(url)
        threads = [threading.Thread(target=put, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 201]


def test_sqlite_writers_queue_on_the_lock_file_instead_of_failing(tmp_path):
    # With no busy timeout at all, a second writer would fail at once with "database is
    # locked"; queued on the lock file it waits for the first one's commit and goes on.
    from app.db import QueuedWriterConnection

    path = str(tmp_path / "queue.sqlite3")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE log (writer TEXT)")
    setup.close()
    first_began, order, failures, opened = threading.Event(), [], [], []

    def write(name: str, hold: float) -> None:
        # (Connections stay open to the end: closing one may check the WAL for a moment.)
        conn = sqlite3.connect(
            path,
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
            factory=QueuedWriterConnection,
        )
        try:
            conn.begin_write()
            if name == "first":
                first_began.set()
            order.append(f"{name} began")
            time.sleep(hold)
            conn.execute("INSERT INTO log VALUES (?)", (name,))
            conn.commit()
            order.append(f"{name} committed")
        except sqlite3.Error as exc:
            failures.append(f"{name}: {exc} after {order}")
        opened.append(conn)

    first = threading.Thread(target=write, args=("first", 0.3))
    first.start()
    assert first_began.wait(5)
    second = threading.Thread(target=write, args=("second", 0))
    second.start()
    first.join()
    second.join()
    for conn in opened:
        conn.close()
    assert failures == []
    assert order == ["first began", "first committed", "second began", "second committed"]
    rows = sqlite3.connect(path).execute("SELECT writer FROM log ORDER BY rowid").fetchall()
    assert rows == [("first",), ("second",)]


def test_sqlite_lock_is_released_by_rollback_and_by_a_failed_begin(tmp_path):
    from app.db import QueuedWriterConnection

    path = str(tmp_path / "release.sqlite3")
    conn = sqlite3.connect(path, isolation_level=None, factory=QueuedWriterConnection)
    other = sqlite3.connect(path, isolation_level=None, factory=QueuedWriterConnection)
    conn.begin_write()
    conn.rollback()
    other.begin_write()  # would wait forever if the rollback had kept the lock
    other.commit()
    conn.execute("BEGIN")  # a transaction begun outside begin_write: BEGIN IMMEDIATE fails
    with pytest.raises(sqlite3.OperationalError):
        conn.begin_write()
    conn.rollback()
    other.begin_write()  # the failed begin let go of the lock
    other.commit()
    conn.close()
    other.close()


def test_prepared_reads_give_what_sqlalchemy_gives(app, alice):
    # The driver-level read must convert every column exactly as SQLAlchemy's execution does.
    from app.db import connection
    from app.store import store

    alice.put(
        f"/customers/{alice.customer}/spaces/1/images/same",
        {"tags": ["x", "y"], "number1": 5, "string2": "é", "maxUnauthorised": 400},
    )
    alice.put(f"/customers/{alice.customer}/roles/viewer", {"name": "Viewer"})
    keys = {"customer": alice.customer, "space": 1, "image": "same"}
    with app.test_request_context("/"):
        conn = connection()
        for name, where in (
            ("Image", keys),
            ("Space", {"customer": alice.customer, "space": 1}),
            ("Customer", {"customer": alice.customer}),
            ("Role", {"customer": alice.customer, "role": "viewer"}),
        ):
            target = store(name)
            statement = target.select(conn.dialect.name)
            condition = [target.table.c[k] == v for k, v in where.items()]
            expected = conn.execute(statement.where(*condition)).mappings().one()
            found = target.get(conn, where)
            assert found == target.fetch(conn, statement.where(*condition))[0]
            assert set(found) == set(expected.keys())
            for column, value in found.items():
                if column in target.children:
                    continue
                assert value == expected[column], column
                assert type(value) is type(expected[column]), column


def test_safe_requests_reuse_a_read_connection_and_still_see_every_commit(app, alice):
    url = f"/customers/{alice.customer}/spaces/1/images/fresh"
    alice.put(url, {"number1": 1})
    reads = app.extensions["dlcs.reads"]
    alice.get(url)
    assert len(reads.idle) == 1
    kept = reads.idle[0][1]
    for number in (2, 3):
        alice.patch(url, {"number1": number})
        assert alice.get(url).json["number1"] == number  # no snapshot carried over
        assert len(reads.idle) == 1
        assert reads.idle[0][1] is kept


def test_write_connections_are_reused_and_come_back_with_nothing_open(app, alice, admin):
    # A write refused inside its transaction (after the lock) returns its connection rolled
    # back: nothing half-applied, no transaction left open on the driver's connection, and
    # on SQLite the writers' lock file free for the next writer of any process.
    c = alice.customer
    url = f"/customers/{c}/spaces/1/images/kept"
    assert alice.put(url, {"number1": 1}).status_code == 201
    writes = app.extensions["dlcs.writes"]
    assert len(writes.idle) == 1
    kept = writes.idle[0][1]
    refused = alice.put(url, {"number1": 2, "roles": [f"{BASE}/customers/{c}/roles/none"]})
    assert refused.status_code == 400
    assert [conn for _, conn in writes.idle] == [kept]
    assert not kept.in_transaction()
    driver = kept.connection.dbapi_connection
    postgres = app.extensions["dlcs.engine"].dialect.name == "postgresql"
    if postgres:
        assert driver.info.transaction_status == TransactionStatus.IDLE
    else:
        assert not driver.in_transaction
        lock = os.open(f"{app.extensions['dlcs.engine'].url.database}-writers.lock", os.O_RDWR)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
        finally:
            os.close(lock)
    assert alice.get(url).json["number1"] == 1
    # A plain read on a writer's connection (psycopg begins a transaction for it) is undone too.
    for _ in range(2):  # (the second time with the caller's key already known)
        assert admin.post("/customers/999999/spaces", {"name": "x"}).status_code == 404
    assert not kept.in_transaction()
    if postgres:
        assert driver.info.transaction_status == TransactionStatus.IDLE
    assert alice.patch(url, {"number1": 3}).status_code == 200
    assert alice.get(url).json["number1"] == 3


def test_read_connections_go_back_to_the_pool_when_invalid_old_or_too_many(app):
    from app.db import IdleConnections

    engine = app.extensions.get("dlcs.reader", app.extensions["dlcs.engine"])
    before = engine.pool.checkedout()
    reads = IdleConnections(engine, write=False, size=1)
    first, second = reads.take(), reads.take()
    assert engine.pool.checkedout() == before + 2
    reads.give_back(first)
    reads.give_back(second)  # one idle already: this one is closed
    assert len(reads.idle) == 1
    assert engine.pool.checkedout() == before + 1
    again = reads.take()
    assert again is first
    again.invalidate()
    reads.give_back(again)
    assert len(reads.idle) == 0
    aged = IdleConnections(engine, write=False, max_age=0)
    old = aged.take()
    aged.give_back(old)
    assert aged.take() is not old  # out too long: a fresh one from the pool
    aged.close()
    reads.close()
    assert engine.pool.checkedout() == before


def _drop_parked(app, kind: str) -> int:
    """Have PostgreSQL end the backend of the parked connection of ``kind``; return its pid."""
    engine = app.extensions["dlcs.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: a server that can drop a connection")
    pid = _parked_pid(app, kind)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    time.sleep(0.2)
    return pid


def _parked_pid(app, kind: str) -> int:
    return app.extensions[kind].idle[0][1].connection.driver_connection.info.backend_pid


def test_a_read_survives_the_server_dropping_its_idle_connection(app, alice):
    url = f"/customers/{alice.customer}/spaces/1/images/dropped"
    alice.put(url, {"number1": 7})
    alice.get(url)
    pid = _drop_parked(app, "dlcs.reads")
    response = alice.get(url, headers={"Cache-Control": "no-cache"})  # (not a kept response)
    assert response.status_code == 200
    assert response.json["number1"] == 7
    assert _parked_pid(app, "dlcs.reads") != pid


def test_a_write_survives_the_server_dropping_its_idle_connection(app, alice):
    # The write's first statement (its locked read) finds the connection gone: nothing had
    # been done on it, so the write goes on, on a new connection, instead of failing.
    url = f"/customers/{alice.customer}/spaces/1/images/dropped"
    alice.put(url, {"number1": 7})
    alice.patch(url, {"number1": 8})
    pid = _drop_parked(app, "dlcs.writes")
    response = alice.patch(url, {"number1": 9})
    assert response.status_code == 200
    assert alice.get(url).json["number1"] == 9
    assert _parked_pid(app, "dlcs.writes") != pid
