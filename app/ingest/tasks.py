"""The Celery side of ingest, set up as Flask's documentation shows: a task runs in an app context.

The web processes publish ingest jobs by the task's name; ``dlcs worker`` runs them.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task, shared_task
from celery.app.amqp import AMQP
from flask import Flask, current_app
from kombu import Connection

from app.ingest import service

INGEST = "dlcs.ingest"


def celery_init_app(app: Flask) -> Celery:
    """Return the Celery app of a Flask app: its broker and queue, its tasks in its context."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    cfg = app.config
    longest = cfg["ORIGIN_TOTAL_TIMEOUT"] + max(cfg["INGEST_SECONDS"], cfg["TRANSCODE_SECONDS"])
    celery = Celery(app.name, task_cls=FlaskTask, set_as_current=False, amqp=_AMQP)
    celery.conf.update(
        broker_url=app.config["BROKER_URL"],
        task_default_queue=app.config["QUEUE_NAME"],
        task_acks_late=True,  # acknowledge after the work: a killed worker's job is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # After a reconnect with jobs running, Celery lowers the prefetch count and raises it
        # again as their acknowledgements come in; those of jobs that ended while the broker
        # was away fail on the old channel, and it stayed lowered: the worker took nothing for
        # minutes after a RabbitMQ restart (tests/test_workers.py restarts one). A redelivered
        # job that ran already does nothing.
        worker_enable_prefetch_count_reduction=False,
        # A connection that died without a word (no RST: a host gone, a partition) is found
        # within two heartbeats, not two minutes' worth (the default's 120 s).
        broker_heartbeat=10,
        worker_hijack_root_logger=False,
        # confirm_publish (AMQP): a publish returns once the broker has the message, so the
        # outbox row is deleted only then. visibility_timeout (Redis): longer than any ingest:
        # its fetch, its decoding or transcode, and two minutes.
        broker_transport_options={
            "confirm_publish": True,
            "visibility_timeout": int(longest) + 120,
        },
    )
    app.extensions["celery"] = celery
    return celery


class _Connection(Connection):
    """A broker connection that, lost, is tried again every 2 s (kombu's default waits 2, 4, 6
    ... up to 30 s between tries: a worker could wait half a minute after its broker was back)."""

    def ensure_connection(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("interval_start", 1)
        kwargs.setdefault("interval_step", 1)
        kwargs.setdefault("interval_max", 2)
        return super().ensure_connection(*args, **kwargs)


class _AMQP(AMQP):
    Connection = _Connection


@shared_task(name=INGEST)
def ingest_task(customer: int, space: int, image: str, generation: int) -> bool:
    """Ingest one registration of one image (idempotent: redelivery is harmless)."""
    app = current_app
    keys: dict[str, Any] = {"customer": customer, "space": space, "image": image}
    return service.ingest(app.extensions["dlcs.engine"], service.settings_of(app), keys, generation)
