"""The Celery side of ingest: the task ``dlcs worker`` runs when a broker is configured."""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Flask

celery = Celery("dlcs", set_as_current=False)
_app: dict[str, Flask] = {}


def configure(app: Flask) -> Celery:
    """Point the Celery app at the broker and queue of a Flask app, which runs the tasks."""
    _app["app"] = app
    celery.conf.update(
        broker_url=app.config["BROKER_URL"],
        task_default_queue=app.config["QUEUE_NAME"],
        task_acks_late=True,  # acknowledge after the work: a killed worker's job is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # confirm_publish (AMQP): a publish returns once the broker has the message, so the
        # outbox row is deleted only then. visibility_timeout (Redis): longer than any ingest.
        broker_transport_options={"confirm_publish": True, "visibility_timeout": 900},
    )
    return celery


@celery.task(name="dlcs.ingest")
def ingest_task(customer: int, space: int, image: str, generation: int) -> bool:
    """Ingest one registration of one image (idempotent: redelivery is harmless)."""
    from app.ingest import service
    from app.ingest.queue import settings_of

    app = _app["app"]
    keys: dict[str, Any] = {"customer": customer, "space": space, "image": image}
    engine = app.extensions["dlcs.engine"]
    return service.ingest(engine, settings_of(app), keys, generation)
