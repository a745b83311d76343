"""The DLCS Image API as a Flask app: ``create_app`` builds it."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.config import Config


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the app."""
    app = Flask(__name__, instance_relative_config=True, static_url_path="/static")
    app.config.from_mapping(Config().as_dict())
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    from app import api, auth, caching, cli, db, errors, ingest, jsonld, representations
    from app.delivery import routes as delivery

    db.init_app(app)
    representations.init_app(app)
    ingest.init_app(app)
    errors.init_app(app)
    jsonld.init_app(app)
    caching.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    delivery.init_app(app)
    cli.init_app(app)
    return app
