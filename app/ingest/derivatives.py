"""Where what ingest makes of an image is kept: thumbnails and a tiled pyramid, per registration.

Everything made for one registration of an image (``ingest_generation``) is kept under one
key prefix named after it, ``derivatives/{customer}/{space}/{sha256 of the id}/{generation}/``
(in :mod:`app.storage.files`: a folder, or a bucket): no part of a key is taken from an id as it was
sent (``..``, ``.``, a name with a separator cannot reach outside its place), and what was made
for an earlier registration is never read for a later one, whatever is cached in front. It is
made in a work folder (:mod:`app.ingest.decode`, in a process of its own) and published whole;
a new registration's replaces the others once its ingest is recorded.

Thumbnails are JPEGs whose longest edge is each size of the thumbnail policy, made from the
pyramid (the origin is decoded once, for the pyramid). Beside the pyramid, the index of its
tiles (where each JPEG tile lies in the file) and the tiles at the right and bottom edges of
each level at their own size, which the pyramid keeps padded to 256 px: so every tile a viewer
asks for is sent as stored, without reading the TIFF's headers or decoding anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from app.ingest.decode import ALPHA, EDGES, INDEX, PYRAMID, SIZES, THUMBS
from app.storage.files import Files

# The name a file (family F) is kept under, beside what is made of the others.
FILE = "file"


def derivatives_prefix(keys: Mapping[str, Any]) -> str:
    """Return the key prefix of an image's derivatives, one prefix per registration inside."""
    digest = hashlib.sha256(str(keys["image"]).encode()).hexdigest()
    return f"derivatives/{int(keys['customer'])}/{int(keys['space'])}/{digest}"


def registration_prefix(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key prefix of what was made for one registration of an image."""
    return f"{derivatives_prefix(keys)}/{int(generation)}"


def pyramid_key(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key of the pyramid made for one registration of an image."""
    return f"{registration_prefix(keys, generation)}/{PYRAMID}"


def alpha_key(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key of the pyramid of the alpha of one registration's image (one with
    transparency)."""
    return f"{registration_prefix(keys, generation)}/{ALPHA}"


def index_key(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key of the index of the tiles of one registration's pyramid."""
    return f"{registration_prefix(keys, generation)}/{INDEX}"


def edges_key(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key of the edge tiles of one registration's pyramid."""
    return f"{registration_prefix(keys, generation)}/{EDGES}"


def thumbnail_key(keys: Mapping[str, Any], generation: int, longest: int) -> str:
    """Return the key of one registration's thumbnail whose longest edge is ``longest``."""
    return f"{registration_prefix(keys, generation)}/{THUMBS}/{int(longest)}.jpg"


def thumbnail_sizes(files: Files, keys: Mapping[str, Any], generation: int) -> list[list[int]]:
    """Return the width and height of each thumbnail of a registration, largest first."""
    found = files.read(f"{registration_prefix(keys, generation)}/{THUMBS}/{SIZES}")
    return json.loads(found) if found is not None else []


def remove_derivatives(files: Files, keys: Mapping[str, Any], keep: int | None = None) -> None:
    """Remove what was made of an image: for every registration, or all but ``keep``'s."""
    files.remove(derivatives_prefix(keys), str(int(keep)) if keep is not None else None)
