"""Ingest through the API: immediate on PUT/PATCH/reingest, batches through the queue.

Registering an image that has an origin bumps its ``ingest_generation`` and marks it
``ingesting`` in the same transaction as the write; the ingest itself runs after the commit,
in the request (immediate mode) or on the queue (``Prefer: respond-async``, and batches).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import Connection, case, func, select, update
from sqlalchemy.exc import IntegrityError

from app import resources
from app.ingest import service
from app.ingest.derivatives import remove_derivatives
from app.ingest.fetch import origin_fault
from app.ingest.queue import Job, Queue
from app.resources import Behaviour
from app.storage.db import connection
from app.storage.models import MAX_INTEGER, TABLES
from app.storage.store import now, store
from app.web import links, responses
from app.web.errors import ApiError, bad_request
from vocab import dlcs
from vocab.model import Class

log = logging.getLogger(__name__)

IMAGE = dlcs.get("Image")
BATCH = dlcs.get("Batch")
QUEUE = dlcs.get("Queue")
MAX_BATCH = 10_000


def requeue(conn: Connection, keys: Mapping[str, Any], batch: int | None = None) -> Job:
    """Mark an image as waiting for a new ingest; return the job that will do it.

    Each registration of an image has a generation, which names what is made for it and is in
    its delivery's ETags: one more than the last, but for the first registration of an image,
    a random number, so that an image deleted and registered again under the same id never
    has a generation of the one deleted (whose derivatives a cache may still hold).
    """
    images = TABLES["Image"]
    first = secrets.randbelow(2**52) + 1
    generation = conn.execute(
        update(images)
        .where(store("Image").match(keys))
        .values(
            ingest_generation=case(
                (images.c.ingest_generation == 0, first), else_=images.c.ingest_generation + 1
            ),
            ingesting=True,
            error="",
            batch=batch,
        )
        .returning(images.c.ingest_generation)
    ).scalar_one()
    return Job(keys["customer"], keys["space"], keys["image"], generation)


def start(conn: Connection, jobs: list[Job], *, asynchronous: bool) -> resources.FollowUp:
    """Write the jobs in the transaction; return what to do with them after the commit.

    Asynchronous: hand them to the background and answer 202. Otherwise the request runs
    them, held as a worker holds a job, on a thread of its own, and waits for them at most
    DLCS_IMMEDIATE_INGEST_SECONDS: past that it answers 202 and the thread goes on, so an
    origin slower than that is fetched once, by this process. Should the process die
    meanwhile, the jobs' lease runs out and the queue takes them up.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    queue: Queue = app.extensions["dlcs.queue"]
    if asynchronous:
        offered = queue.offer(conn, jobs)

        def hand_over() -> int:
            queue.hand_over(offered)
            return 202

        return hand_over
    held = queue.hold(conn, jobs, queue.lease)

    def run() -> int | None:
        engine, settings = app.extensions["dlcs.engine"], service.settings_of(app)

        def work() -> None:
            try:
                for job in jobs:
                    service.ingest(engine, settings, job.keys, job.generation)
            except Exception:  # (the database, say: the queue runs them again)
                log.exception("an immediate ingest failed; the queue will run it again")
                queue.hand_over(held)
                return
            queue.finished(held)

        thread = threading.Thread(target=work, name="dlcs-immediate-ingest", daemon=True)
        thread.start()
        thread.join(float(app.config["IMMEDIATE_INGEST_SECONDS"]))
        return 202 if thread.is_alive() else None

    return run


def wants_ingest(before: dict[str, Any] | None, loaded: dict[str, Any]) -> bool:
    """Ingest on every PUT with an origin, and on a PATCH that changes the origin."""
    origin = loaded.get("origin", before["origin"] if before else "")
    if request.method == "PATCH" and (before is None or origin == before["origin"]):
        return False
    return bool(origin or loaded.get("initialOrigin"))


def _queued(conn: Connection, keys: Mapping[str, Any]) -> bool:
    """Whether an image's ingest goes to the queue (asked for, or audio and video: a
    transcode is never run by a web request)."""
    images = TABLES["Image"]
    family = conn.execute(select(images.c.family).where(store("Image").match(keys))).scalar()
    return resources.wants_async() or family == "T"


def ingest_on_write(conn: Connection, keys: Mapping[str, Any]) -> resources.FollowUp:
    """Queue the written image's ingest (or prepare to run it after the commit)."""
    return start(conn, [requeue(conn, keys)], asynchronous=_queued(conn, keys))


def remove_files(keys: Mapping[str, Any]) -> None:
    """Remove what was made or kept of a deleted image (pyramids, thumbnails, transcodes)."""
    remove_derivatives(current_app.extensions["dlcs.files"], keys)


def reingest(cls: Class, keys: Mapping[str, Any], _behaviour: Behaviour) -> Response:
    """Ingest an image again from its origin."""
    conn = connection()
    if not store("Image").exists(conn, keys):
        raise resources.not_found(IMAGE, keys)
    follow_up = start(conn, [requeue(conn, keys)], asynchronous=_queued(conn, keys))
    conn.commit()
    status = follow_up() or 200
    return _image_response(conn, keys, status)


def _image_response(conn: Connection, keys: Mapping[str, Any], status: int) -> Response:
    values = resources.read(conn, IMAGE, keys)
    assert values is not None
    headers = resources.accepted_headers(status)
    return responses.response(resources.document(IMAGE, values), status, headers)


# -- batches ------------------------------------------------------------------------------------


def batch_counters(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Derive each batch's counters from the images whose latest batch it is."""
    images = TABLES["Image"]
    failed = (images.c.error != "") & images.c.ingesting.is_(False)
    query = (
        select(
            images.c.batch,
            func.count().label("current"),
            func.sum(case((images.c.ingesting.is_(True), 1), else_=0)).label("waiting"),
            func.sum(case((failed, 1), else_=0)).label("errors"),
            func.max(images.c.finished).label("finished"),
        )
        .where(images.c.customer == rows[0]["customer"])
        .where(images.c.batch.in_([r["batch"] for r in rows]))
        .group_by(images.c.batch)
    )
    found = {r.batch: r for r in conn.execute(query)}
    for row in rows:
        counts = found.get(row["batch"])
        current = counts.current if counts else 0
        waiting = int(counts.waiting or 0) if counts else 0
        errors = int(counts.errors or 0) if counts else 0
        row["errors"] = errors
        row["completed"] = current - waiting - errors
        row["superseded"] = max(0, row["count"] - current)
        if waiting:
            row["finished"] = None
        else:
            row["finished"] = (counts.finished if counts else None) or row["submitted"]


def _member_faults(
    conn: Connection, customer: int, position: int, member: Any, seen: set[tuple[int, str]]
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    where = f"member[{position}]"
    if not isinstance(member, dict):
        return None, [(where, "must be a JSON object")]
    body = dict(member)
    image, space = body.pop("id", None), body.pop("space", None)
    faults = []
    if not isinstance(image, str) or not image or not resources.valid_identifier(image):
        faults.append((f"{where}.id", f"must be the image's id: {resources.IDENTIFIER_RULE}"))
    if isinstance(space, bool) or not isinstance(space, int) or not 0 <= space <= MAX_INTEGER:
        faults.append((f"{where}.space", "must be the number of one of your spaces"))
    elif not store("Space").exists(conn, {"customer": customer, "space": space}):
        faults.append((f"{where}.space", f"there is no space {space}"))
    if faults:
        return None, faults
    keys = {"customer": customer, "space": space, "image": image}
    if (space, image) in seen:
        return None, [(f"{where}.id", f"image {image} of space {space} is in the batch twice")]
    seen.add((space, image))
    iri = links.resource_iri(IMAGE, keys)
    envelope = resources.strip_envelope(IMAGE, body, iri)
    current = store("Image").get(conn, keys)
    base = current if current is not None else resources.new_values(conn, IMAGE, keys)
    loaded, more = resources.validate(IMAGE, body, resources.dump(IMAGE, base), partial=False)
    more += resources.resolve_links(conn, IMAGE, loaded, keys) + origin_faults(loaded)
    if not loaded.get("origin") and not more:
        more.append(("origin", "is required for an image sent to the queue"))
    faults = [(f"{where}.{path}", message) for path, message in envelope + more]
    return {"keys": keys, "current": current, "base": base, "loaded": loaded}, faults


def create_batch(conn: Connection, customer: int, body: dict[str, Any]) -> tuple[int, Any]:
    """Validate a collection of images as a whole and register it as one batch.

    Returns the batch number and the follow-up that publishes its jobs after the commit;
    raises a 400 naming every faulty member, having written nothing.
    """
    members = body.get("member")
    if not isinstance(members, list) or not members:
        raise bad_request([("member", "must be a non-empty array of images")])
    if len(members) > MAX_BATCH:
        raise bad_request([("member", f"a batch holds at most {MAX_BATCH} images")])
    unknown = [k for k in body if k not in ("@context", "@type", "@id", "member")]
    faults = [(k, "is not a property of a Collection sent to the queue") for k in unknown]
    accepted: list[Any] = []
    seen: set[Any] = set()
    for position, member in enumerate(members):
        item, more = _member_faults(conn, customer, position, member, seen)
        faults += more
        if item is not None and not more:
            accepted.append(item)
    if faults:
        raise bad_request(faults)
    try:
        number = _next_batch(conn, customer)
        store("Batch").insert(
            conn, {"customer": customer, "batch": number, "submitted": now(), "count": len(members)}
        )
        jobs = []
        for item in accepted:
            _write_member(conn, item)
            jobs.append(requeue(conn, item["keys"], batch=number))
        follow_up = start(conn, jobs, asynchronous=True)
        conn.commit()
    except IntegrityError as exc:
        conn.rollback()
        raise ApiError(
            409, "Another request changed these images at the same time; try again."
        ) from exc
    return number, follow_up


def submit_batch(cls: Class, keys: Mapping[str, Any], _behaviour: Behaviour) -> Response:
    """Register a collection of images as one batch, and queue them all."""
    conn = connection()
    number, follow_up = create_batch(conn, keys["customer"], resources.read_body())
    follow_up()
    batch = resources.read(conn, BATCH, {"customer": keys["customer"], "batch": number}, BATCHES)
    assert batch is not None
    doc = resources.document(BATCH, batch)
    return responses.response(doc, 201, {"Location": doc["@id"]})


def _next_batch(conn: Connection, customer: int) -> int:
    batches = TABLES["Batch"]
    query = select(func.coalesce(func.max(batches.c.batch), 0)).where(
        batches.c.customer == customer
    )
    return conn.execute(query).scalar_one() + 1


def _write_member(conn: Connection, item: dict[str, Any]) -> None:
    keys, loaded = item["keys"], item["loaded"]
    if item["current"] is None:
        store("Image").insert(conn, {**item["base"], **loaded, "created": now()})
    else:
        defaults = resources.writable(IMAGE, resources.new_values(conn, IMAGE, keys))
        store("Image").update(conn, keys, {**defaults, **loaded})


def retry_batch(cls: Class, keys: Mapping[str, Any], _behaviour: Behaviour) -> Response:
    """Queue the failed images of a batch again."""
    conn = connection()
    if not store("Batch").exists(conn, keys):
        raise resources.not_found(BATCH, keys)
    images = TABLES["Image"]
    failed = conn.execute(
        select(images.c.customer, images.c.space, images.c.image).where(
            images.c.customer == keys["customer"],
            images.c.batch == keys["batch"],
            images.c.error != "",
            images.c.ingesting.is_(False),
        )
    ).mappings()
    jobs = [requeue(conn, dict(row), batch=keys["batch"]) for row in failed]
    follow_up = start(conn, jobs, asynchronous=True)
    conn.commit()
    follow_up()
    batch = resources.read(conn, BATCH, keys, BATCHES)
    assert batch is not None
    return responses.response(resources.document(BATCH, batch), 202)


def queue_status(cls: Class, keys: Mapping[str, Any], _behaviour: Behaviour) -> Response:
    """Show how much of a customer's queue is waiting."""
    conn = connection()
    images = TABLES["Image"]
    mine = [images.c.customer == keys["customer"], images.c.ingesting.is_(True)]
    size = conn.execute(select(func.count()).select_from(images).where(*mine)).scalar_one()
    batches = conn.execute(
        select(func.count(func.distinct(images.c.batch))).where(*mine, images.c.batch.is_not(None))
    ).scalar_one()
    values = {**keys, "size": size, "batchesWaiting": batches}
    return responses.response(resources.document(QUEUE, values))


def origin_faults(loaded: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return what is wrong with the origins a body gives, before anything is written."""
    file_dirs = current_app.config["ORIGIN_FILE_DIRS"]
    faults = []
    for name in ("origin", "initialOrigin"):
        value = loaded.get(name)
        fault = origin_fault(value, file_dirs) if value else None
        if fault:
            faults.append((name, fault))
    return faults


IMAGES = Behaviour(
    after_write=resources.AfterWrite(wants_ingest, ingest_on_write),
    after_delete=remove_files,
    check=origin_faults,
)
REINGEST = Behaviour(handlers={"POST": reingest})
QUEUES = Behaviour(handlers={"GET": queue_status, "POST": submit_batch})
BATCHES = Behaviour(handlers={"POST": retry_batch}, computed=batch_counters)
