"""Ingesting one registration of an image: fetch, inspect, make thumbnails, record.

:func:`ingest` is idempotent and safe to run more than once for the same job (delivery is at
least once): it does nothing unless the image is still waiting for exactly this registration
(``generation``), and it records its result only under that same condition, in one UPDATE.
No database transaction is held open while the origin is fetched.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyvips
from flask import Flask
from sqlalchemy import Engine, select, update

from app.ingest.derivatives import (
    MADE,
    make_pyramid,
    make_thumbnails,
    make_tile_index,
    registration_prefix,
    remove_derivatives,
)
from app.ingest.fetch import FetchSettings, IngestError, Overdue, fetch
from app.ingest.inspect import Inspected, check_family, inspect
from app.storage.files import Files
from app.storage.models import CHILDREN, TABLES
from app.storage.store import now, store

log = logging.getLogger(__name__)

# The policies ingest applies, named by the links it sets on the image (an image's is the one
# its pyramid was made by).
OPTIMISATION_POLICIES = {"image": MADE, "video": "video-max", "audio": "audio-max"}


@dataclass(frozen=True)
class IngestSettings:
    """Everything ingest needs from the configuration."""

    fetch: FetchSettings
    files: Files
    max_pixels: int
    thumbnail_policy: str = "default"
    # A fetch past its deadline is not recorded as a failure but raised (Overdue): the
    # request that ran it hands the job to the queue, which fetches with the full deadline.
    hand_over_overdue: bool = False


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
) -> tuple[Inspected, str | None]:
    # What the origin is, and the image optimisation policy applied to it.
    fetched = fetch(source, settings.fetch)
    try:
        found = inspect(fetched.file, settings.max_pixels)
        check_family(family, found)
        policy = OPTIMISATION_POLICIES.get(found.kind)
        if found.kind == "image":
            folder = settings.files.work_folder()
            try:
                # The pyramid's extent is the image as shown (turned as its EXIF says).
                width, height, policy = make_pyramid(fetched.file, folder)
                make_tile_index(folder)
                make_thumbnails(folder, sizes)
                settings.files.publish(folder, registration_prefix(keys, generation))
            except (OSError, ValueError, SyntaxError, pyvips.Error) as exc:
                raise IngestError(f"the image could not be decoded: {exc}") from exc
            finally:
                shutil.rmtree(folder, ignore_errors=True)  # (published, or given up)
            found = replace(found, width=width, height=height)
        return found, policy
    finally:
        fetched.close()


def _failed(error: str) -> dict[str, Any]:
    return {
        "ingesting": False,
        "finished": now(),
        "error": error,
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
        found, policy = _measure(source, family, keys, generation, sizes, settings)
    except IngestError as exc:
        if isinstance(exc, Overdue) and settings.hand_over_overdue:
            raise
        remove_derivatives(settings.files, keys)
        return _failed(str(exc))
    except Exception:
        log.exception("ingest of %s failed unexpectedly", dict(keys))
        remove_derivatives(settings.files, keys)
        return _failed("ingest failed unexpectedly; the failure was logged")
    is_image = found.kind == "image"
    return {
        "ingesting": False,
        "finished": now(),
        "error": "",
        "width": found.width,
        "height": found.height,
        "media_type": found.media_type,
        "imageOptimisationPolicy": policy,
        "thumbnailPolicy": settings.thumbnail_policy if is_image else None,
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
        max_pixels=int(cfg["MAX_IMAGE_PIXELS"]),
    )
