"""The least a GET and a PUT of an image can do on this stack: the benchmark's reference apps.

Flask, and one statement by key through the server's own engines (``app.storage.db.make_engine``,
a connection checked out of the pool per request): a GET runs a ``SELECT`` of the image's row
(in autocommit, as the server's reads do), a PUT reads the JSON body and runs an ``UPDATE`` of
the row returning it, in a transaction of its own (``BEGIN IMMEDIATE`` on SQLite). Fixed bytes
answer both. Nothing of the API: no authentication, no checks, no defaults, no lists, no
rendering. Served by gunicorn with the Procfile's settings (``bench.least:create_app()``), it
shows how many reads and durable writes of one row per second the stack itself allows.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, request
from sqlalchemy import text

from app.storage.db import make_engine
from bench.bare import BODY

KEY = "customer = :customer AND space = :space AND image = :image"
READ = text(f"SELECT * FROM images WHERE {KEY}")
# What the benchmark's PUT changes: the image's string1 and number1.
WRITE = text(f"UPDATE images SET string1 = :string1, number1 = :number1 WHERE {KEY} RETURNING *")
IMAGE = "/customers/<int:customer>/spaces/<int:space>/images/<image>"


def create_app(url: str | None = None) -> Flask:
    """Return the app, on the database at ``url`` (by default the environment's DATABASE_URL)."""
    app = Flask(__name__)
    url = url or os.environ["DATABASE_URL"]
    reader, writer = make_engine(url, autocommit=True), make_engine(url)

    @app.get(IMAGE)
    def get(customer: int, space: int, image: str) -> Response:
        """Read the image's row; answer fixed bytes (404 when there is none)."""
        with reader.connect() as conn:
            row = conn.execute(READ, {"customer": customer, "space": space, "image": image})
            if row.first() is None:
                return Response(status=404)
        return Response(BODY, mimetype="application/ld+json")

    @app.put(IMAGE)
    def put(customer: int, space: int, image: str) -> Response:
        """Write the body's values to the image's row; answer fixed bytes."""
        body = json.loads(request.get_data())
        values = {"customer": customer, "space": space, "image": image}
        with writer.begin() as conn:
            conn.execute(WRITE, {**values, "string1": body["string1"], "number1": body["number1"]})
        return Response(BODY, mimetype="application/ld+json")

    @app.route("/")
    def home() -> Response:
        """Answer the benchmark's check that the server is up."""
        return Response(BODY, mimetype="application/ld+json")

    app.extensions["least.engines"] = (reader, writer)
    return app
