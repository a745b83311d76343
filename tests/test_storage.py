"""Storage: migrations match the tables, the embedded default migrates itself, races are safe."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import create_app
from app.models import metadata


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
