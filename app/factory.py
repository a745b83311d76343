"""The DLCS Image API as a Flask app: ``create_app`` builds it (``gunicorn wsgi:app``, ``dlcs``)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response
from flask_cors import CORS

from app import api, cli
from app.config import Config
from app.delivery import routes as delivery
from app.ingest import queue
from app.storage import db
from app.web import auth, caching, jsonld, responses


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the app."""
    app = Flask(__name__, instance_relative_config=True, static_url_path="/static")
    app.config.from_mapping(Config().as_dict())
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))

    db.init_app(app)
    queue.init_app(app)
    responses.init_app(app)
    jsonld.init_app(app)
    caching.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    delivery.init_app(app)
    cli.init_app(app)
    _cors(app)
    return app


def _instance_secret(folder: Path) -> str:
    # The secret every process of this machine signs with, made by the first to start.
    path = folder / "secret_key"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # (another process may be writing it this moment)
            if secret := path.read_text().strip():
                return secret
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: remove it, or set DLCS_SECRET_KEY") from None
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _cors(app: Flask) -> None:
    # The API is open to the origins configured (DLCS_CORS_ORIGINS, comma-separated, or *);
    # IIIF delivery, answered in front of Flask, to every origin (app.delivery.served).
    setting = app.config["CORS_ORIGINS"].strip()
    origins = "*" if setting == "*" else [o.strip() for o in setting.split(",") if o.strip()]
    CORS(
        app,
        resources={
            r"/*": {"origins": origins},
        },
        expose_headers=["Link", "Location", "ETag"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Accept",
            "If-Match",
            "If-None-Match",
            "Prefer",
        ],
        max_age=600,
    )
    if origins != "*":
        # Whether a response says an origin may read it depends on the request's Origin,
        # even with one origin allowed (flask-cors says so only for two or more): a cache in
        # front must not give one origin's answer to another.
        app.after_request(_vary_on_origin)


def _vary_on_origin(resp: Response) -> Response:
    resp.vary.add("Origin")
    return resp
