"""The ingest queue: embedded (a table and a thread) or Celery workers on a broker.

The embedded queue needs no other service: jobs are rows written in the same transaction as
the images they ingest, a thread of the server takes them one at a time, and a job is
deleted only once its image is ingested, so neither a crash nor a restart loses one. With
``DLCS_BROKER_URL`` set, jobs go to Celery instead (RabbitMQ or Redis), to be run by
``dlcs worker`` processes on any number of machines; messages are acknowledged only after
the work is done, so a worker killed mid-job leaves its job to another.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

from flask import Flask
from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from app.ingest import service
from app.models import TABLES, ingest_jobs
from app.store import now, store

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)  # a claimed job is given to another worker after this
MAX_ATTEMPTS = 5
POLL_SECONDS = 1.0


class Job(NamedTuple):
    """One registration of one image to ingest."""

    customer: int
    space: int
    image: str
    generation: int

    @property
    def keys(self) -> dict[str, Any]:
        """The image's key."""
        return {"customer": self.customer, "space": self.space, "image": self.image}


class Queue(Protocol):
    """Where ingest jobs go: ``submit`` inside the transaction, ``flush`` after its commit."""

    def submit(self, conn: Connection, jobs: list[Job]) -> list[Job]: ...

    def flush(self, jobs: list[Job]) -> None: ...


def give_up(engine: Engine, job: Job, message: str) -> None:
    """Record a job that cannot be run as a failed ingest of its image."""
    images = TABLES["Image"]
    condition = [store("Image").match(job.keys), images.c.ingest_generation == job.generation]
    with engine.begin() as conn:
        conn.execute(
            update(images).where(*condition).values(ingesting=False, finished=now(), error=message)
        )


class EmbeddedQueue:
    """Jobs in a table of the database, run by a thread of this process (or ``dlcs worker``)."""

    def __init__(self, engine: Engine, settings: service.IngestSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.worker = uuid.uuid4().hex
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def submit(self, conn: Connection, jobs: list[Job]) -> list[Job]:
        """Write the jobs in the caller's transaction: they exist exactly if it commits."""
        if jobs:
            conn.execute(insert(ingest_jobs), [j._asdict() for j in jobs])
        return jobs

    def flush(self, jobs: list[Job]) -> None:
        """Wake the thread."""
        if jobs:
            self.wake.set()

    def claim(self) -> dict[str, Any] | None:
        """Take the oldest job nobody holds (or whose holder's lease ran out)."""
        moment = now()
        free = or_(ingest_jobs.c.claimed_at.is_(None), ingest_jobs.c.claimed_at < moment - LEASE)
        oldest = select(ingest_jobs.c.id).where(free).order_by(ingest_jobs.c.id).limit(1)
        with self.engine.connect() as conn:
            # Looked for first, outside a write: a poll that finds nothing commits nothing,
            # so an idle queue leaves every process's kept responses alone (representations).
            if conn.execute(oldest).first() is None:
                return None
            conn.rollback()
            conn.info["write"] = True
            with conn.begin():
                row = conn.execute(
                    update(ingest_jobs)
                    .where(ingest_jobs.c.id == oldest.scalar_subquery(), free)
                    .values(
                        claimed_by=self.worker,
                        claimed_at=moment,
                        attempts=ingest_jobs.c.attempts + 1,
                    )
                    .returning(*ingest_jobs.c)
                ).first()
            conn.info.pop("write", None)
        return dict(row._mapping) if row is not None else None

    def run_one(self) -> bool:
        """Run one job; return False when there was none to run."""
        row = self.claim()
        if row is None:
            return False
        job = Job(row["customer"], row["space"], row["image"], row["generation"])
        if row["attempts"] > MAX_ATTEMPTS:
            give_up(self.engine, job, f"ingest was tried {MAX_ATTEMPTS} times and never finished")
        else:
            service.ingest(self.engine, self.settings, job.keys, job.generation)
        with self.engine.begin() as conn:
            conn.execute(
                delete(ingest_jobs).where(
                    ingest_jobs.c.id == row["id"], ingest_jobs.c.claimed_by == self.worker
                )
            )
        return True

    def drain(self) -> int:
        """Run jobs until none is left; return how many ran."""
        count = 0
        while self.run_one():
            count += 1
        return count

    def waiting(self) -> int:
        """Return how many jobs are in the table."""
        with self.engine.connect() as conn:
            return len(conn.execute(select(ingest_jobs.c.id)).all())

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.run_one():
                    continue
            except Exception:  # keep the thread alive: the job stays and is retried
                log.exception("the embedded ingest worker failed")
                self.stopping.wait(POLL_SECONDS)
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()

    def start(self) -> None:
        """Start the thread that runs jobs in the background."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="dlcs-ingest", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        """Stop the thread after the job it is running."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
            self.thread = None


class CeleryQueue:
    """Jobs published to a Celery broker after the transaction commits."""

    def __init__(self, app: Flask) -> None:
        from app.ingest import tasks

        self.tasks = tasks
        tasks.configure(app)

    def submit(self, conn: Connection, jobs: list[Job]) -> list[Job]:
        """Nothing to write: the jobs are published by :meth:`flush`."""
        return jobs

    def flush(self, jobs: Iterable[Job]) -> None:
        """Publish the jobs."""
        for job in jobs:
            self.tasks.ingest_task.apply_async(args=tuple(job))


def settings_of(app: Flask) -> service.IngestSettings:
    """Return the ingest settings of an app."""
    cfg = app.config
    return service.IngestSettings(
        fetch=service.FetchSettings(
            allow_private=bool(cfg["ORIGIN_ALLOW_PRIVATE"]),
            file_dirs=tuple(cfg["ORIGIN_FILE_DIRS"]),
            max_bytes=int(cfg["ORIGIN_MAX_BYTES"]),
            connect_timeout=float(cfg["ORIGIN_CONNECT_TIMEOUT"]),
            read_timeout=float(cfg["ORIGIN_READ_TIMEOUT"]),
            total_timeout=float(cfg["ORIGIN_TOTAL_TIMEOUT"]),
        ),
        storage=cfg["STORAGE_DIR"] or f"{app.instance_path}/storage",
        max_pixels=int(cfg["MAX_IMAGE_PIXELS"]),
    )
