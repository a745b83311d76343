"""What ingest makes of an image: thumbnails and a tiled pyramid, per registration.

Everything made for one registration of an image (``ingest_generation``) lives in a folder
named after it, ``derivatives/{customer}/{space}/{sha256 of the id}/{generation}/``: no part
of a path is taken from an id as it was sent (``..``, ``.``, a name with a separator cannot
reach outside its folder), and what was made for an earlier registration is never read for
a later one, whatever is cached in front. A new registration's folder replaces the others
once its ingest is recorded.

Thumbnails are JPEGs whose longest edge is each size of the thumbnail policy, decoded with
Pillow's draft mode (the decoder scales by 1/2, 1/4 or 1/8 while decoding, so a large JPEG is
never decoded at full size just to make thumbnails).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import pyvips
from PIL import Image, ImageOps

QUALITY = 85
TILE = 256
PYRAMID = "pyramid.tif"
SIZES = "sizes.json"


def derivatives_dir(storage: str, keys: Mapping[str, Any]) -> Path:
    """Return the folder of an image's derivatives, one folder per registration inside."""
    digest = hashlib.sha256(str(keys["image"]).encode()).hexdigest()
    customer, space = int(keys["customer"]), int(keys["space"])
    return Path(storage) / "derivatives" / str(customer) / str(space) / digest


def registration_dir(storage: str, keys: Mapping[str, Any], generation: int) -> Path:
    """Return the folder of what was made for one registration of an image."""
    return derivatives_dir(storage, keys) / str(int(generation))


def thumbnail_dir(storage: str, keys: Mapping[str, Any], generation: int) -> Path:
    """Return the folder of one registration's thumbnails, named by their longest edge."""
    return registration_dir(storage, keys, generation) / "thumbs"


def pyramid_path(storage: str, keys: Mapping[str, Any], generation: int) -> Path:
    """Return the pyramid made for one registration of an image."""
    return registration_dir(storage, keys, generation) / PYRAMID


def make_thumbnails(
    file: IO[bytes], storage: str, keys: Mapping[str, Any], generation: int, sizes: Iterable[int]
) -> list[int]:
    """Write the thumbnails of an image's registration; return the sizes made, largest first."""
    file.seek(0)
    with Image.open(file) as image:
        longest = max(image.size)
        targets = sorted({min(int(s), longest) for s in sizes if int(s) > 0}, reverse=True)
        if not targets:
            return []
        image.draft("RGB", (targets[0], targets[0]))
        picture = ImageOps.exif_transpose(image).convert("RGB")
    folder = thumbnail_dir(storage, keys, generation)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for size in targets:
        picture.thumbnail((size, size), Image.Resampling.LANCZOS)
        temporary = folder / f".{size}.jpg.tmp"
        picture.save(temporary, "JPEG", quality=QUALITY, optimize=True)
        os.replace(temporary, folder / f"{size}.jpg")
        made.append([picture.width, picture.height])
    # The width and height of each, largest first (the thumbnail service lists them).
    (folder / SIZES).write_text(json.dumps(made))
    return targets


def thumbnail_sizes(storage: str, keys: Mapping[str, Any], generation: int) -> list[list[int]]:
    """Return the width and height of each thumbnail of a registration, largest first."""
    try:
        return json.loads((thumbnail_dir(storage, keys, generation) / SIZES).read_text())
    except FileNotFoundError:
        return []


# -- the tiled pyramid ---------------------------------------------------------------------------


def _load(file: IO[bytes]) -> pyvips.Image:
    # libvips reads most formats, from the file as it streams through (a spooled origin is
    # put on disk for it); what its build lacks (JPEG 2000) Pillow decodes.
    file.seek(0)
    try:
        source = pyvips.Source.new_from_descriptor(file.fileno())
        return pyvips.Image.new_from_source(source, "", access="sequential")
    except pyvips.Error:
        file.seek(0)
    with Image.open(file) as opened:
        picture = ImageOps.exif_transpose(opened)
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
        bands = len(picture.getbands())
        return pyvips.Image.new_from_memory(
            picture.tobytes(), picture.width, picture.height, bands, "uchar"
        )


def _for_jpeg(image: pyvips.Image) -> pyvips.Image:
    # JPEG holds 8-bit gray or sRGB without alpha: convert, and flatten alpha onto white.
    image = image.autorot()
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    gray = image.interpretation in ("b-w", "grey16")
    image = image.colourspace("b-w" if gray else "srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def make_pyramid(
    file: IO[bytes], storage: str, keys: Mapping[str, Any], generation: int
) -> tuple[int, int]:
    """Write the tiled pyramid of an image's registration; return its width and height.

    A TIFF of 256 px JPEG tiles at every level down to one tile (libvips), which the Image
    API reads any region from at the nearest level. Written to a temporary file and moved
    into place, so a reader never sees half a pyramid.
    """
    image = _for_jpeg(_load(file))
    target = pyramid_path(storage, keys, generation)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{PYRAMID}.{os.getpid()}.tmp")
    try:
        image.tiffsave(
            str(temporary),
            tile=True,
            tile_width=TILE,
            tile_height=TILE,
            pyramid=True,
            compression="jpeg",
            Q=QUALITY,
            bigtiff=image.width * image.height * image.bands > 2**31,
        )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return image.width, image.height


def remove_derivatives(storage: str, keys: Mapping[str, Any], keep: int | None = None) -> None:
    """Remove what was made of an image: for every registration, or all but ``keep``'s."""
    folder = derivatives_dir(storage, keys)
    if keep is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for other in folder.glob("*"):
        if other.name != str(int(keep)):
            shutil.rmtree(other, ignore_errors=True)
