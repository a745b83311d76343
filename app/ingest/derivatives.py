"""Thumbnails: JPEGs whose longest edge is each size of the thumbnail policy.

JPEGs are decoded with Pillow's draft mode, which lets the decoder scale by 1/2, 1/4 or
1/8 while decoding, so a large JPEG is never decoded at full size just to make thumbnails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageOps

QUALITY = 85


def thumbnail_dir(storage: str, keys: Mapping[str, Any]) -> Path:
    """Return the folder holding the thumbnails of one image.

    No part of the path is taken from an id as it was sent: the numbers are written as
    integers and the image is named by the SHA-256 of its id, so no id (``..``, ``.``, a
    name with a separator) can reach outside its own folder.
    """
    digest = hashlib.sha256(str(keys["image"]).encode()).hexdigest()
    return Path(storage) / "thumbs" / str(int(keys["customer"])) / str(int(keys["space"])) / digest


def make_thumbnails(
    file: IO[bytes], storage: str, keys: Mapping[str, Any], sizes: Iterable[int]
) -> list[int]:
    """Write the thumbnails of an image; return the sizes made, largest first."""
    file.seek(0)
    with Image.open(file) as image:
        longest = max(image.size)
        targets = sorted({min(int(s), longest) for s in sizes if int(s) > 0}, reverse=True)
        if not targets:
            return []
        image.draft("RGB", (targets[0], targets[0]))
        picture = ImageOps.exif_transpose(image).convert("RGB")
    folder = thumbnail_dir(storage, keys)
    folder.mkdir(parents=True, exist_ok=True)
    for size in targets:
        picture.thumbnail((size, size), Image.Resampling.LANCZOS)
        temporary = folder / f".{size}.jpg.tmp"
        picture.save(temporary, "JPEG", quality=QUALITY, optimize=True)
        os.replace(temporary, folder / f"{size}.jpg")
    wanted = {f"{size}.jpg" for size in targets}
    for stale in folder.glob("*.jpg"):
        if stale.name not in wanted:
            stale.unlink(missing_ok=True)
    return targets


def remove_thumbnails(storage: str, keys: Mapping[str, Any]) -> None:
    """Remove the thumbnails of an image, if it has any."""
    shutil.rmtree(thumbnail_dir(storage, keys), ignore_errors=True)
