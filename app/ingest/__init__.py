"""Ingest: fetch each image's origin, measure it, make thumbnails, in immediate or batch mode."""

from __future__ import annotations

import atexit

from flask import Flask
from PIL import Image

from app.ingest.queue import CeleryQueue, EmbeddedQueue
from app.ingest.service import settings_of
from app.storage.files import files_of


def init_app(app: Flask) -> None:
    """Choose the queue (a broker if configured, else embedded) and start the embedded worker."""
    Image.MAX_IMAGE_PIXELS = int(app.config["MAX_IMAGE_PIXELS"])
    app.extensions["dlcs.files"] = files_of(app.config, app.instance_path)
    engine, settings = app.extensions["dlcs.engine"], settings_of(app)
    if app.config.get("BROKER_URL"):
        app.extensions["dlcs.queue"] = CeleryQueue(app, engine, settings)
        return
    queue = EmbeddedQueue(engine, settings)
    app.extensions["dlcs.queue"] = queue
    if app.config.get("EMBEDDED_WORKER"):

        @app.before_request
        def _start_worker() -> None:
            # Started by the first request, so that CLI commands never run one.
            if queue.thread is None and not queue.stopping.is_set():
                queue.start()
                atexit.register(queue.stop)
