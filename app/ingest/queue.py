"""The ingest queue: every ingest is first a row of the jobs table, run by whoever holds it.

A job is written in the same transaction as the image it ingests, so it exists exactly if
the registration does. Each row is held by at most one process at a time, until its lease
expires: a worker running it, a request ingesting it at once (immediate mode), or a request
publishing it to the broker. A holder that dies lets its lease run out and the job is taken
up again, so any process may die at any moment and every image still ends ingested or with
an error.

Without a broker the queue is embedded: a thread of the server (or ``dlcs worker``) takes
the jobs one at a time and deletes each once its image is ingested. With
``DLCS_BROKER_URL`` the table is an outbox: the request that wrote the jobs publishes them to
Celery after its commit and deletes their rows once the broker has confirmed them; a
``dlcs worker`` sweeps up and publishes the rows whose publisher died first. Celery then
delivers each at least once (messages are acknowledged after the work), and ingest is
idempotent.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import uuid
from typing import Any, NamedTuple

from flask import Flask
from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from app.ingest import service, tasks
from app.storage.files import files_of
from app.storage.models import TABLES, ingest_jobs
from app.storage.store import now, store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
POLL_SECONDS = 1.0
# How long a holder may take beyond the fetch's and the decoding's deadlines: publishing, recording.
MARGIN = dt.timedelta(minutes=2)
SWEEP_SECONDS = 5.0
SWEEP_BATCH = 500


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


class Held(NamedTuple):
    """Jobs written by one request, and the token that holds them (None: nobody does)."""

    jobs: list[Job]
    token: str | None


def give_up(engine: Engine, job: Job, message: str) -> None:
    """Record a job that cannot be run as a failed ingest of its image."""
    images = TABLES["Image"]
    condition = [store("Image").match(job.keys), images.c.ingest_generation == job.generation]
    with engine.begin() as conn:
        conn.execute(
            update(images).where(*condition).values(ingesting=False, finished=now(), error=message)
        )


def _free(moment: dt.datetime) -> Any:
    # A job nobody holds, or whose holder's lease has run out.
    return or_(ingest_jobs.c.claimed_by.is_(None), ingest_jobs.c.expires < moment)


class Queue:
    """The jobs table; :class:`EmbeddedQueue` and :class:`CeleryQueue` say who runs the jobs."""

    def __init__(self, engine: Engine, settings: service.IngestSettings) -> None:
        self.engine = engine
        self.settings = settings
        # What a worker holds a job for: the whole fetch, the whole decoding or transcode, and
        # the rest.
        work = settings.fetch.total_timeout + settings.longest
        self.lease = dt.timedelta(seconds=work) + MARGIN

    def hold(self, conn: Connection, jobs: list[Job], lease: dt.timedelta) -> Held:
        """Write jobs in the caller's transaction, held by a new token for ``lease``."""
        token = uuid.uuid4().hex
        self._write(conn, jobs, token, now() + lease)
        return Held(jobs, token)

    def offer(self, conn: Connection, jobs: list[Job]) -> Held:
        """Write jobs in the caller's transaction for the background to run (Prefer, batches)."""
        self._write(conn, jobs, None, None)
        return Held(jobs, None)

    def hand_over(self, held: Held) -> None:
        """After the commit: leave the jobs to the background."""
        raise NotImplementedError

    def finished(self, held: Held) -> None:
        """Delete the rows of held jobs that are done (their results are recorded)."""
        if held.token is not None:
            self._delete(held.token)

    def _delete(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(ingest_jobs).where(ingest_jobs.c.claimed_by == token))

    @staticmethod
    def _write(
        conn: Connection, jobs: list[Job], token: str | None, expires: dt.datetime | None
    ) -> None:
        if jobs:
            rows = [{**j._asdict(), "claimed_by": token, "expires": expires} for j in jobs]
            conn.execute(insert(ingest_jobs), rows)

    def claim(
        self, count: int = 1, lease: dt.timedelta | None = None, *, attempt: bool = True
    ) -> tuple[str, list[dict[str, Any]]]:
        """Take up to ``count`` of the oldest jobs free to take; return the token and rows.

        ``lease``: how long they are held (a worker's by default); ``attempt``: the taking
        counts as an attempt to run them (a job tried too often is given up).
        """
        moment, token = now(), uuid.uuid4().hex
        tries = ingest_jobs.c.attempts + 1 if attempt else ingest_jobs.c.attempts
        oldest = (
            select(ingest_jobs.c.id).where(_free(moment)).order_by(ingest_jobs.c.id).limit(count)
        )
        with self.engine.connect() as conn:
            # Looked for first: a poll that finds nothing writes nothing.
            if conn.execute(oldest).first() is None:
                return token, []
            conn.rollback()
            with conn.begin():
                taken = conn.execute(
                    update(ingest_jobs)
                    .where(ingest_jobs.c.id.in_(oldest.scalar_subquery()), _free(moment))
                    .values(
                        claimed_by=token, expires=moment + (lease or self.lease), attempts=tries
                    )
                    .returning(*ingest_jobs.c)
                ).all()
        return token, [dict(row._mapping) for row in taken]

    def _runnable(self, rows: list[dict[str, Any]]) -> list[Job]:
        # The jobs of rows that have not been tried too often (the others are given up).
        jobs = []
        for row in rows:
            job = Job(row["customer"], row["space"], row["image"], row["generation"])
            if row["attempts"] > MAX_ATTEMPTS:
                give_up(self.engine, job, f"ingest was tried {MAX_ATTEMPTS} times, never finished")
            else:
                jobs.append(job)
        return jobs


class EmbeddedQueue(Queue):
    """Jobs run by threads of this process (``start``) or of ``dlcs worker``."""

    def __init__(self, engine: Engine, settings: service.IngestSettings) -> None:
        super().__init__(engine, settings)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def hand_over(self, held: Held) -> None:
        """Let go of the jobs (a worker takes them at once), and wake the thread."""
        if held.token is not None and held.jobs:
            with self.engine.begin() as conn:
                conn.execute(
                    update(ingest_jobs)
                    .where(ingest_jobs.c.claimed_by == held.token)
                    .values(claimed_by=None, expires=None)
                )
        if held.jobs:
            self.wake.set()

    def run_one(self) -> bool:
        """Run one job; return False when there was none to run."""
        token, rows = self.claim()
        if not rows:
            return False
        for job in self._runnable(rows):
            service.ingest(self.engine, self.settings, job.keys, job.generation)
        self._delete(token)
        return True

    def drain(self) -> int:
        """Run jobs until none is left; return how many ran."""
        count = 0
        while self.run_one():
            count += 1
        return count

    def run(self) -> None:
        """Run jobs as they come, until :meth:`stop`."""
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
            self.thread = threading.Thread(target=self.run, name="dlcs-ingest", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        """Stop the thread after the job it is running."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
            self.thread = None


class CeleryQueue(Queue):
    """Jobs published to a Celery broker after the commit, the table being their outbox."""

    def __init__(self, app: Flask, engine: Engine, settings: service.IngestSettings) -> None:
        super().__init__(engine, settings)
        self.celery = tasks.celery_init_app(app)
        self.stopping = threading.Event()
        # How long a request has to publish what it queued before a sweeper does instead.
        self.publish_lease = dt.timedelta(seconds=float(app.config["OUTBOX_SECONDS"]))

    def offer(self, conn: Connection, jobs: list[Job]) -> Held:
        """Write jobs held for publishing by this request (a sweeper's, should it die first)."""
        return self.hold(conn, jobs, self.publish_lease)

    def hand_over(self, held: Held) -> None:
        """Publish the jobs (the broker confirms each), then delete their rows.

        When the broker cannot be reached the rows stay, and a sweeper publishes them once
        it can: what was committed is never lost.
        """
        try:
            self._publish(held.jobs)
        except Exception:
            log.exception("the broker took no ingest jobs; a dlcs worker will publish them")
            return
        self.finished(held)

    def _publish(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.celery.send_task(tasks.INGEST, args=tuple(job))

    def sweep(self) -> int:
        """Publish the jobs whose publisher died first (or never could); return how many."""
        token, rows = self.claim(SWEEP_BATCH, self.publish_lease, attempt=False)
        if rows:
            jobs = [Job(r["customer"], r["space"], r["image"], r["generation"]) for r in rows]
            self.hand_over(Held(jobs, token))
        return len(rows)

    def sweep_forever(self) -> None:
        """Sweep every few seconds until :meth:`stop` (a thread of ``dlcs worker``)."""
        while not self.stopping.wait(SWEEP_SECONDS):
            try:
                while self.sweep() == SWEEP_BATCH:
                    pass
            except Exception:
                log.exception("sweeping the ingest outbox failed; trying again")

    def stop(self) -> None:
        """Stop :meth:`sweep_forever`."""
        self.stopping.set()


def init_app(app: Flask) -> None:
    """Choose the queue (a broker if configured, else embedded) and start the embedded worker."""
    app.extensions["dlcs.files"] = files_of(app.config, app.instance_path)
    engine, settings = app.extensions["dlcs.engine"], service.settings_of(app)
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
