"""Storage: migrations match the tables, the embedded default migrates itself, races are safe."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.factory import create_app
from app.storage.models import metadata
from app.storage.store import store
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


def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path):
    # Each write transaction begins IMMEDIATE (the write lock up front); a second writer
    # waits for the first one's commit (the busy timeout) and goes on, never "locked".
    from app.storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE log (writer TEXT)")
    first_began, order, failures = threading.Event(), [], []

    def write(name: str, hold: float) -> None:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM log").all()  # (begins the transaction)
                if name == "first":
                    first_began.set()
                order.append(f"{name} began")
                time.sleep(hold)
                conn.exec_driver_sql(f"INSERT INTO log VALUES ('{name}')")
            order.append(f"{name} committed")
        except Exception as exc:  # (any failure is the finding)
            failures.append(f"{name}: {exc} after {order}")

    first = threading.Thread(target=write, args=("first", 0.3))
    first.start()
    assert first_began.wait(5)
    second = threading.Thread(target=write, args=("second", 0))
    second.start()
    first.join()
    second.join()
    assert failures == []
    assert order == ["first began", "first committed", "second began", "second committed"]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT writer FROM log ORDER BY rowid").all()
    assert [tuple(r) for r in rows] == [("first",), ("second",)]
    engine.dispose()


def test_reads_by_key_give_what_a_select_of_the_rows_gives(app, alice):
    from app.storage.db import connection

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


def test_reads_take_no_lock_and_see_every_commit(app, alice):
    # A GET reads in autocommit: while a writer holds the database's write lock (SQLite's
    # only one), it still answers, with the last committed values; then with the new ones.
    url = f"/customers/{alice.customer}/spaces/1/images/fresh"
    alice.put(url, {"number1": 1})
    engine = app.extensions["dlcs.engine"]
    with engine.begin() as conn:
        table = store("Image").table
        conn.execute(table.update().where(table.c.image == "fresh").values(number1=2))
        answered = []
        reader = threading.Thread(target=lambda: answered.append(alice.get(url).json["number1"]))
        reader.start()
        reader.join(10)
        assert answered == [1]
    assert alice.get(url).json["number1"] == 2


def test_a_refused_write_leaves_nothing_open(app, alice, admin):
    # A write refused inside its transaction (after the lock) is rolled back at teardown:
    # nothing half-applied, no transaction left open, the write lock free for the next writer.
    c = alice.customer
    url = f"/customers/{c}/spaces/1/images/kept"
    assert alice.put(url, {"number1": 1}).status_code == 201
    refused = alice.put(url, {"number1": 2, "roles": [f"{BASE}/customers/{c}/roles/none"]})
    assert refused.status_code == 400
    assert admin.post("/customers/999999/spaces", {"name": "x"}).status_code == 404
    engine = app.extensions["dlcs.engine"]
    assert engine.pool.checkedout() == 0
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            open_ = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state IN ('idle in transaction', 'idle in transaction (aborted)')"
            ).scalar()
        assert open_ == 0
    else:
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # fails at once ("locked") if the lock were held
        other.rollback()
        other.close()
    assert alice.get(url).json["number1"] == 1
    assert alice.patch(url, {"number1": 3}).status_code == 200
    assert alice.get(url).json["number1"] == 3


def _drop_connections(app) -> None:
    """Have PostgreSQL end every other backend of the test database (the pool's connections)."""
    engine = app.extensions["dlcs.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: a server that can drop a connection")
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    time.sleep(0.2)


def test_a_read_survives_the_server_dropping_its_idle_connection(app, alice):
    url = f"/customers/{alice.customer}/spaces/1/images/dropped"
    alice.put(url, {"number1": 7})
    alice.get(url)
    _drop_connections(app)
    response = alice.get(url)
    assert response.status_code == 200
    assert response.json["number1"] == 7


def test_a_write_survives_the_server_dropping_its_idle_connection(app, alice):
    url = f"/customers/{alice.customer}/spaces/1/images/dropped"
    alice.put(url, {"number1": 7})
    alice.patch(url, {"number1": 8})
    _drop_connections(app)
    response = alice.patch(url, {"number1": 9})
    assert response.status_code == 200
    assert alice.get(url).json["number1"] == 9
