"""What ingest made of audio and video (their transcodes) and kept of files, as rows.

Ingest records an image's media in the transaction that records its result (:func:`record`);
delivery reads them with the image's access rule in one statement (:data:`ASSET`, whose rows
:func:`asset_of` reads). A row names the registration that made it, and delivery serves only
the current registration's: what an earlier one made is never sent, whatever is left in
storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
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


def _current(images: Table) -> ColumnElement[bool]:
    # A media row of an image (a row of ``images``) and of its current registration.
    return and_(
        *(image_media.c[name] == images.c[name] for name in _KEYS),
        image_media.c.generation == images.c.ingest_generation,
    )


def _asset_query() -> Select:
    # An image's row, each of its current registration's media and each of its roles (a row
    # for each pair; one with none), by its key: built once, its parameters bound per call.
    images, roles = TABLES["Image"], CHILDREN["Image"]["roles"]
    held = and_(*(roles.c[name] == images.c[name] for name in _KEYS))
    return (
        select(
            images.c.ingest_generation,
            images.c.ingesting,
            images.c.error,
            images.c.family,
            images.c.maxUnauthorised,
            roles.c.value.label("role"),
            *(image_media.c[name] for name in Media.__dataclass_fields__),
        )
        .select_from(images.outerjoin(image_media, _current(images)).outerjoin(roles, held))
        .where(*(images.c[name] == bindparam(name) for name in _KEYS))
    )


ASSET = _asset_query()
_COLUMNS = tuple(column.key for column in ASSET.selected_columns)


def asset_of(rows: Sequence[Sequence[Any]]) -> Asset | None:
    """Return the asset the rows of :data:`ASSET` describe (None for none: no such image)."""
    if not rows:
        return None
    found = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    first = found[0]
    return Asset(
        generation=int(first["ingest_generation"]),
        ingesting=bool(first["ingesting"]),
        error=first["error"] or "",
        family=first["family"],
        max_unauthorised=int(first["maxUnauthorised"]),
        roles=frozenset(row["role"] for row in found if row["role"] is not None),
        media={row["channel"]: _media(row) for row in found if row["channel"] is not None},
    )


def delivered(images: Table) -> ColumnElement[bool]:
    """The condition that an image (a row of ``images``) has media of its current registration
    (its transcodes, or its file): a query's condition for the assets to show."""
    return exists().where(_current(images))


_CHUNK = 500  # (keys a statement names at most)


def media_of(
    conn: Connection, customer: int, assets: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Media]]:
    """Return the media of the current registrations of the images ``assets`` (space, image)
    of ``customer``, by (space, image) and channel: one query for every 500 images."""
    images = TABLES["Image"]
    pairs = [(int(space), str(image)) for space, image in assets]
    found: dict[tuple[int, str], dict[str, Media]] = {}
    for start in range(0, len(pairs), _CHUNK):
        query = (
            select(image_media)
            .join(images, _current(images))
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
