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
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select, update
from werkzeug.http import parse_options_header

from app.ingest import decode, sandbox, transcode
from app.ingest.derivatives import FILE, registration_prefix, remove_derivatives
from app.ingest.errors import IngestError
from app.ingest.fetch import Fetched, FetchSettings, fetch
from app.storage import media
from app.storage.files import Files
from app.storage.media import Media
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
    av: transcode.Limits = field(
        default_factory=lambda: transcode.Limits(
            max_seconds=14_400, threads=2, max_pixels=250_000_000
        )
    )
    transcode_seconds: float = 3600.0  # (the longest one transcode may take)

    @property
    def longest(self) -> float:
        """The longest the work on one origin may take, after its fetch."""
        return max(self.seconds, self.transcode_seconds)


def policy_sizes(engine: Engine, policy: str) -> list[int]:
    """Return the sizes of a thumbnail policy."""
    sizes = CHILDREN["ThumbnailPolicy"]["sizes"]
    query = (
        select(sizes.c.value).where(sizes.c.thumbnailPolicy == policy).order_by(sizes.c.position)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


@dataclass(frozen=True)
class Outcome:
    """What ingest found of an origin and made of it: the policy applied, what it noticed that
    did not stop it, and the media delivered of an audio, video or file asset."""

    found: decode.Inspected
    policy: str | None
    warning: str = ""
    media: tuple[Media, ...] = ()


def _measure(
    source: str,
    family: str,
    keys: Mapping[str, Any],
    generation: int,
    sizes: list[int],
    settings: IngestSettings,
) -> Outcome:
    # What the origin is, and what is made of it published under its registration's prefix.
    fetched = fetch(source, settings.fetch)
    try:
        folder = settings.files.work_folder()
        prefix = registration_prefix(keys, generation)
        try:
            if family == "T":
                outcome = _transcode(fetched.path, folder, prefix, settings)
            else:
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
                outcome = Outcome(made.found, made.policy, made.warning)
                if family == "F":
                    outcome = _keep(fetched, folder, prefix, outcome.found)
            if outcome.media or outcome.found.kind == "image":
                settings.files.publish(folder, prefix)
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # (published, or given up)
        return outcome
    finally:
        fetched.close()


def _transcode(origin: str, folder: Path, prefix: str, settings: IngestSettings) -> Outcome:
    # Audio or video, made by FFmpeg in a child process (its demuxers read a stranger's bytes).
    made = sandbox.run(
        transcode.derive,
        origin,
        str(folder),
        None,
        settings.av,
        memory=settings.limits.memory,
        seconds=settings.transcode_seconds,
    )
    delivered = tuple(
        Media(
            channel=PurePosixPath(t.name).suffix[1:],
            key=f"{prefix}/{t.name}",
            media_type=t.media_type,
            size=t.size,
            policy=t.policy,
            duration=t.duration,
            width=t.width,
            height=t.height,
        )
        for t in made.transcodes
    )
    return Outcome(made.found, made.transcodes[0].policy, media=delivered)


def _keep(fetched: Fetched, folder: Path, prefix: str, found: decode.Inspected) -> Outcome:
    # A file: its bytes as they are, with the media type they have (sniffed, else the
    # origin's word for it).
    shutil.copyfile(fetched.path, folder / FILE)
    media_type = found.media_type
    if media_type == decode.UNKNOWN and fetched.content_type:
        declared = parse_options_header(fetched.content_type)[0].lower()
        media_type = declared if "/" in declared else media_type
    found = replace(found, media_type=media_type, width=None, height=None)
    kept = Media("file", f"{prefix}/{FILE}", media_type, os.path.getsize(folder / FILE))
    return Outcome(found, None, media=(kept,))


def _failed(error: str) -> dict[str, Any]:
    return {
        "ingesting": False,
        "finished": now(),
        "error": error,
        "warning": "",
        "width": None,
        "height": None,
        "duration": 0,
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
) -> tuple[dict[str, Any], tuple[Media, ...]]:
    """Ingest ``source``; return the image's new column values (an ``error`` when it failed)
    and the media to deliver of it.

    ``finished`` is the moment the work ended, successful or not.
    """
    if not source:
        return _failed("the image has no origin to ingest"), ()
    try:
        made = _measure(source, family, keys, generation, sizes, settings)
    except IngestError as exc:
        remove_derivatives(settings.files, keys)
        return _failed(str(exc)), ()
    except Exception:
        log.exception("ingest of %s failed unexpectedly", dict(keys))
        remove_derivatives(settings.files, keys)
        return _failed("ingest failed unexpectedly; the failure was logged"), ()
    found = made.found
    shown = next((m for m in made.media if m.width), None)  # (a video's frame)
    timed = next((m for m in made.media if m.duration), None)
    image = family != "F" and found.kind == "image"
    values = {
        "ingesting": False,
        "finished": now(),
        "error": "",
        "warning": made.warning,
        "width": shown.width if shown else found.width,
        "height": shown.height if shown else found.height,
        "duration": timed.duration if timed else 0,
        "media_type": found.media_type,
        "imageOptimisationPolicy": made.policy,
        "thumbnailPolicy": settings.thumbnail_policy if image else None,
    }
    return values, made.media


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
    values, made = process(source, row["family"], keys, generation, sizes, settings)
    condition = [
        target.match(keys),
        images.c.ingest_generation == generation,
        images.c.ingesting.is_(True),
    ]
    with engine.begin() as conn:
        recorded = conn.execute(update(images).where(*condition).values(**values)).rowcount > 0
        if recorded:
            media.record(conn, keys, generation, made)
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
        av=transcode.Limits(
            max_seconds=float(cfg["AV_MAX_SECONDS"]),
            threads=int(cfg["TRANSCODE_THREADS"]),
            max_pixels=int(cfg["MAX_IMAGE_PIXELS"]),
        ),
        transcode_seconds=float(cfg["TRANSCODE_SECONDS"]),
    )
