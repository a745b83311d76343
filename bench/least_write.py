"""The least a PUT of an image can do on this stack, as the benchmark's second reference app.

Flask reads the JSON body, and the database driver runs one prepared ``UPDATE`` of the image's
row by key, setting the values the body gives and returning the row (a PUT answers with the
resource), as its own transaction; fixed bytes answer. Nothing of the API: no checks, no
defaults, no lists, no rendering. The connections are set up as the server's are
(``app.db.make_engine``: on SQLite WAL and the writers' lock file, on PostgreSQL autocommit),
one per thread, kept. Served by gunicorn with the Procfile's settings
(``bench.least_write:create_app()``), it shows how many durable writes of one row per second the
stack itself allows, beside the bare app's fixed bytes.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import psycopg
from flask import Flask, Response, request

from app.db import make_engine
from bench.bare import BODY

# What the benchmark's PUT changes: the image's string1 and number1.
COLUMNS = ("string1", "number1")


def _update(mark: str) -> str:
    # The statement in the driver's parameter style (psycopg: %s, sqlite3: ?).
    changes = ", ".join(f"{c} = {mark}" for c in COLUMNS)
    key = f"customer = {mark} AND space = {mark} AND image = {mark}"
    return f"UPDATE images SET {changes} WHERE {key} RETURNING *"


POSTGRESQL_UPDATE, SQLITE_UPDATE = _update("%s"), _update("?")


def create_app(url: str | None = None) -> Flask:
    """Return the app, writing to ``url`` (by default the environment's DATABASE_URL)."""
    app = Flask(__name__)
    engine = make_engine(url or os.environ["DATABASE_URL"])
    local = threading.local()

    def connection() -> Any:
        # This thread's driver connection (on PostgreSQL with its cursor), opened once, kept.
        driver = getattr(local, "driver", None)
        if driver is None:
            local.pooled = engine.raw_connection()
            driver = local.driver = local.pooled.driver_connection
            if isinstance(driver, psycopg.Connection):
                local.cursor = driver.cursor()
        return driver

    @app.route("/customers/<int:customer>/spaces/<int:space>/images/<image>", methods=["PUT"])
    def put(customer: int, space: int, image: str) -> Response:
        """Write the body's values to the image's row; answer fixed bytes."""
        body = json.loads(request.get_data())
        values = (*(body[c] for c in COLUMNS), customer, space, image)
        driver = connection()
        if isinstance(driver, psycopg.Connection):  # autocommit: the statement commits by itself
            local.cursor.execute(POSTGRESQL_UPDATE, values, prepare=True)
            local.cursor.fetchone()
        else:  # SQLite: wait for the writers' lock, BEGIN IMMEDIATE, write, commit
            driver.begin_write()
            try:
                driver.execute(SQLITE_UPDATE, values).fetchone()
            except BaseException:
                driver.rollback()
                raise
            driver.commit()
        return Response(BODY, mimetype="application/ld+json")

    @app.route("/")
    def home() -> Response:
        """Answer the benchmark's check that the server is up."""
        return Response(BODY, mimetype="application/ld+json")

    app.extensions["least_write.engine"] = engine
    return app
