"""Ingesting one registration of an image: fetch, decode and make, record.

:func:`ingest` is idempotent and safe to run more than once for the same job (delivery is at
least once): it does nothing unless the image is still waiting for exactly this registration
(``generation``), and it records its result only under that same condition, in one UPDATE.
No database transaction is held open while the origin is fetched. This process fetches the
origin; a child process bounded in memory and time (:mod:`app.ingest.sandbox`) reads it and
makes what is served of it, which this process publishes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select, update

from app.ingest import decode, sandbox
from app.ingest.derivatives import registration_prefix, remove_derivatives
from app.ingest.errors import IngestError
from app.ingest.fetch import FetchSettings, fetch
from app.storage.files import Files
from app.storage.models import CHILDREN, TABLES
from app.storage.store import now, store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestSettings:
    """Everything ingest needs from the configuration."""

    fetch: FetchSettings
    files: Files
    limits: decode.Limits
    seconds: float = 300.0  # (the longest one origin's decoding and making may take)
    thumbnail_policy: str = "default"


def policy_sizes(engine: Engine, policy: str) -> list[int]:
    """Return the sizes of a thumbnail policy."""
    sizes = CHILDREN["ThumbnailPolicy"]["sizes"]
    query = (
        select(sizes.c.value).where(sizes.c.thumbnailPolicy == policy).order_by(sizes.c.position)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _measure(
    source: str,
    family: str,
    keys: Mapping[str, Any],
    generation: int,
    sizes: list[int],
    settings: IngestSettings,
) -> decode.Made:
    # What the origin is and, for an image, its pyramid and thumbnails published.
    fetched = fetch(source, settings.fetch)
    try:
        folder = settings.files.work_folder()
        try:
            made = sandbox.run(
                decode.derive,
                fetched.path,
                str(folder),
                family,
                sizes,
                settings.limits,
                memory=settings.limits.memory,
                seconds=settings.seconds,
            )
            if made.found.kind == "image":
                settings.files.publish(folder, registration_prefix(keys, generation))
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # (published, or given up)
        return made
    finally:
        fetched.close()


def _failed(error: str) -> dict[str, Any]:
    return {
        "ingesting": False,
        "finished": now(),
        "error": error,
        "warning": "",
        "width": None,
        "height": None,
        "media_type": None,
        "imageOptimisationPolicy": None,
        "thumbnailPolicy": None,
    }


def process(
    source: str,
    family: str,
    keys: Mapping[str, Any],
    generation: int,
    sizes: list[int],
    settings: IngestSettings,
) -> dict[str, Any]:
    """Ingest ``source``; return the image's new column values, an ``error`` when it failed.

    ``finished`` is the moment the work ended, successful or not.
    """
    if not source:
        return _failed("the image has no origin to ingest")
    try:
        made = _measure(source, family, keys, generation, sizes, settings)
    except IngestError as exc:
        remove_derivatives(settings.files, keys)
        return _failed(str(exc))
    except Exception:
        log.exception("ingest of %s failed unexpectedly", dict(keys))
        remove_derivatives(settings.files, keys)
        return _failed("ingest failed unexpectedly; the failure was logged")
    found = made.found
    return {
        "ingesting": False,
        "finished": now(),
        "error": "",
        "warning": made.warning,
        "width": found.width,
        "height": found.height,
        "media_type": found.media_type,
        "imageOptimisationPolicy": made.policy,
        "thumbnailPolicy": settings.thumbnail_policy if found.kind == "image" else None,
    }


def ingest(
    engine: Engine, settings: IngestSettings, keys: Mapping[str, Any], generation: int
) -> bool:
    """Ingest the image's registration ``generation``; return whether a result was recorded."""
    images = TABLES["Image"]
    target = store("Image")
    with engine.connect() as conn:
        row = conn.execute(select(images).where(target.match(keys))).mappings().first()
    if row is None or row["ingest_generation"] != generation or not row["ingesting"]:
        return False  # deleted, registered again since, or done already
    first = row["finished"] is None
    source = row["initialOrigin"] if first and row["initialOrigin"] else row["origin"]
    sizes = policy_sizes(engine, settings.thumbnail_policy)
    values = process(source, row["family"], keys, generation, sizes, settings)
    condition = [
        target.match(keys),
        images.c.ingest_generation == generation,
        images.c.ingesting.is_(True),
    ]
    with engine.begin() as conn:
        recorded = conn.execute(update(images).where(*condition).values(**values)).rowcount > 0
    if recorded and not values["error"]:
        remove_derivatives(settings.files, keys, keep=generation)  # (earlier registrations')
    elif not recorded:  # deleted, or registered again, meanwhile: these are for nobody
        settings.files.remove(registration_prefix(keys, generation))
    return recorded


def settings_of(app: Flask) -> IngestSettings:
    """Return the ingest settings of an app."""
    cfg = app.config
    if cfg["INGEST_TRUNCATED"] not in decode.TRUNCATED:
        raise ValueError(
            f"DLCS_INGEST_TRUNCATED must be one of {', '.join(decode.TRUNCATED)}, "
            f"not {cfg['INGEST_TRUNCATED']!r}"
        )
    return IngestSettings(
        fetch=FetchSettings(
            allow_private=bool(cfg["ORIGIN_ALLOW_PRIVATE"]),
            file_dirs=tuple(cfg["ORIGIN_FILE_DIRS"]),
            max_bytes=int(cfg["ORIGIN_MAX_BYTES"]),
            connect_timeout=float(cfg["ORIGIN_CONNECT_TIMEOUT"]),
            read_timeout=float(cfg["ORIGIN_READ_TIMEOUT"]),
            total_timeout=float(cfg["ORIGIN_TOTAL_TIMEOUT"]),
        ),
        files=app.extensions["dlcs.files"],
        limits=decode.Limits(
            max_pixels=int(cfg["MAX_IMAGE_PIXELS"]),
            memory=int(float(cfg["INGEST_MEMORY_MB"]) * 2**20),
            truncated=str(cfg["INGEST_TRUNCATED"]),
        ),
        seconds=float(cfg["INGEST_SECONDS"]),
    )
