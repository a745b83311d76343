"""What ingest made of audio and video (their transcodes) and kept of files, as rows.

Ingest records an image's media in the transaction that records its result (:func:`record`);
delivery reads them with the image's access rule in one statement (:func:`asset`). A row
names the registration that made it, and delivery serves only the current registration's:
what an earlier one made is never sent, whatever is left in storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy import tuple_ as row_of

from app.storage.models import CHILDREN, TABLES, image_media

_KEYS = ("customer", "space", "image")


@dataclass(frozen=True)
class Media:
    """One file delivered of an asset: a transcode (channel ``mp4``, ``mp3``) or the kept
    origin (``file``)."""

    channel: str
    key: str
    media_type: str
    size: int
    policy: str | None = None
    duration: int | None = None  # milliseconds
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Asset:
    """What delivery needs of an image to serve its media."""

    generation: int
    ingesting: bool
    error: str
    family: str
    max_unauthorised: int
    roles: frozenset[str]
    media: dict[str, Media]  # (by channel: the current registration's only)

    @property
    def restricted(self) -> bool:
        """Whether a session is needed to see the asset (as the DLCS has it: roles, or a
        ``maxUnauthorised`` of 0 or more; no part of a recording or a file is open)."""
        return bool(self.roles) or self.max_unauthorised >= 0


def _match(table: Any, keys: Mapping[str, Any]) -> list[Any]:
    return [table.c[name] == keys[name] for name in _KEYS]


def record(
    conn: Connection, keys: Mapping[str, Any], generation: int, made: Iterable[Media]
) -> None:
    """Replace the image's media with ``made``, of registration ``generation``, in the
    caller's transaction."""
    conn.execute(delete(image_media).where(*_match(image_media, keys)))
    rows = [
        {**{name: keys[name] for name in _KEYS}, "generation": generation, **vars(media)}
        for media in made
    ]
    if rows:
        conn.execute(insert(image_media), rows)


def asset(engine: Engine, keys: Mapping[str, Any]) -> Asset | None:
    """Return what delivery needs of the image ``keys`` (None when there is no such image)."""
    images, roles = TABLES["Image"], CHILDREN["Image"]["roles"]
    query = select(
        images.c.ingest_generation,
        images.c.ingesting,
        images.c.error,
        images.c.family,
        images.c.maxUnauthorised,
    ).where(*_match(images, keys))
    with engine.connect() as conn:
        row = conn.execute(query).first()
        if row is None:
            return None
        held = conn.execute(select(roles.c.value).where(*_match(roles, keys))).scalars().all()
        made = conn.execute(
            select(image_media).where(
                and_(*_match(image_media, keys), image_media.c.generation == row[0])
            )
        ).mappings()
        media = {m["channel"]: _media(m) for m in made}
    return Asset(
        generation=int(row[0]),
        ingesting=bool(row[1]),
        error=row[2] or "",
        family=row[3],
        max_unauthorised=int(row[4]),
        roles=frozenset(held),
        media=media,
    )


def delivered(images: Table) -> ColumnElement[bool]:
    """The condition that an image (a row of ``images``) has media of its current registration
    (its transcodes, or its file): a query's condition for the assets to show."""
    return exists().where(
        *(image_media.c[name] == images.c[name] for name in _KEYS),
        image_media.c.generation == images.c.ingest_generation,
    )


_CHUNK = 500  # (keys a statement names at most)


def media_of(
    conn: Connection, customer: int, assets: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Media]]:
    """Return the media of the current registrations of the images ``assets`` (space, image)
    of ``customer``, by (space, image) and channel: one query for every 500 images."""
    images = TABLES["Image"]
    pairs = [(int(space), str(image)) for space, image in assets]
    current = and_(
        *(images.c[name] == image_media.c[name] for name in _KEYS),
        images.c.ingest_generation == image_media.c.generation,
    )
    found: dict[tuple[int, str], dict[str, Media]] = {}
    for start in range(0, len(pairs), _CHUNK):
        query = (
            select(image_media)
            .join(images, current)
            .where(
                image_media.c.customer == customer,
                row_of(image_media.c.space, image_media.c.image).in_(pairs[start : start + _CHUNK]),
            )
        )
        for row in conn.execute(query).mappings():
            at = (int(row["space"]), str(row["image"]))
            found.setdefault(at, {})[row["channel"]] = _media(row)
    return found


def _media(row: Any) -> Media:
    return Media(**{name: row[name] for name in Media.__dataclass_fields__})
