"""What ingest makes of an image: thumbnails and a tiled pyramid, per registration.

Everything made for one registration of an image (``ingest_generation``) is kept under one
key prefix named after it, ``derivatives/{customer}/{space}/{sha256 of the id}/{generation}/``
(in :mod:`app.storage.files`: a folder, or a bucket): no part of a key is taken from an id as it was
sent (``..``, ``.``, a name with a separator cannot reach outside its place), and what was made
for an earlier registration is never read for a later one, whatever is cached in front. It is
made in a work folder and published whole; a new registration's replaces the others once its
ingest is recorded.

Thumbnails are JPEGs whose longest edge is each size of the thumbnail policy, made from the
pyramid (the origin is decoded once, for the pyramid). Beside the pyramid, the index of its
tiles (where each JPEG tile lies in the file) and the tiles at the right and bottom edges of
each level at their own size, which the pyramid keeps padded to 256 px: so every tile a viewer
asks for is sent as stored, without reading the TIFF's headers or decoding anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import pyvips
import tifffile
from PIL import Image, ImageOps

from app.storage.files import Files

QUALITY = 85
TILE = 256
PYRAMID = "pyramid.tif"
INDEX = "tiles.json"
EDGES = "edges.jpg"
# The image optimisation policies ingest applies to images (vocabulary: ImageOptimisationPolicy).
MADE, USE_ORIGINAL = "fast-higher", "use-original"
THUMBS = "thumbs"
SIZES = "sizes.json"


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


def index_key(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key of the index of the tiles of one registration's pyramid."""
    return f"{registration_prefix(keys, generation)}/{INDEX}"


def edges_key(keys: Mapping[str, Any], generation: int) -> str:
    """Return the key of the edge tiles of one registration's pyramid."""
    return f"{registration_prefix(keys, generation)}/{EDGES}"


def thumbnail_key(keys: Mapping[str, Any], generation: int, longest: int) -> str:
    """Return the key of one registration's thumbnail whose longest edge is ``longest``."""
    return f"{registration_prefix(keys, generation)}/{THUMBS}/{int(longest)}.jpg"


def make_thumbnails(folder: Path, sizes: Iterable[int]) -> list[list[int]]:
    """Make an image's thumbnails in ``folder`` from its pyramid there; return their widths
    and heights, largest first.

    libvips reads each from the smallest level of the pyramid that is large enough (making
    them from the origin with Pillow, by its draft mode, took three times as long).
    """
    pyramid = str(folder / PYRAMID)
    full = pyvips.Image.new_from_file(pyramid)
    longest = max(full.width, full.height)
    targets = sorted({min(int(s), longest) for s in sizes if int(s) > 0}, reverse=True)
    (folder / THUMBS).mkdir(parents=True, exist_ok=True)
    made = []
    for size in targets:
        thumbnail = pyvips.Image.thumbnail(pyramid, size, height=size, size="down")
        thumbnail.jpegsave(str(folder / THUMBS / f"{size}.jpg"), Q=QUALITY, optimize_coding=True)
        made.append([thumbnail.width, thumbnail.height])
    # The width and height of each, largest first (the thumbnail service lists them).
    (folder / THUMBS / SIZES).write_text(json.dumps(made))
    return made


def thumbnail_sizes(files: Files, keys: Mapping[str, Any], generation: int) -> list[list[int]]:
    """Return the width and height of each thumbnail of a registration, largest first."""
    found = files.read(f"{registration_prefix(keys, generation)}/{THUMBS}/{SIZES}")
    return json.loads(found) if found is not None else []


# -- the tiled pyramid ---------------------------------------------------------------------------


def _load(file: IO[bytes]) -> pyvips.Image:
    # libvips reads most formats, as the file streams through; what its build lacks (JPEG
    # 2000) Pillow decodes. libvips reads through the file object, not its descriptor, so
    # the two never disagree on where in the file they are.
    file.seek(0)
    source = pyvips.SourceCustom()
    source.on_read(file.read)
    source.on_seek(file.seek)
    try:
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


def make_pyramid(file: IO[bytes], folder: Path) -> tuple[int, int, str]:
    """Make the tiled pyramid of an image in ``folder``; return its width and height, and
    the image optimisation policy applied.

    ``fast-higher``: a TIFF of 256 px JPEG tiles at every level down to one tile (libvips),
    which the Image API reads any region from at the nearest level. ``use-original``: an
    origin that is such a pyramid already is kept as it is.
    """
    ready = _ready_pyramid(file)
    if ready is not None:
        file.seek(0)
        with (folder / PYRAMID).open("wb") as out:
            shutil.copyfileobj(file, out, 2**20)
        return (*ready, USE_ORIGINAL)
    image = _for_jpeg(_load(file))
    image.tiffsave(
        str(folder / PYRAMID),
        tile=True,
        tile_width=TILE,
        tile_height=TILE,
        pyramid=True,
        compression="jpeg",
        Q=QUALITY,
        bigtiff=image.width * image.height * image.bands > 2**31,
    )
    return image.width, image.height, MADE


def _ready_pyramid(file: IO[bytes]) -> tuple[int, int] | None:
    """Return the width and height of an origin that is a pyramid as ingest makes them
    (a TIFF of 256 px JPEG tiles, 8-bit gray or YCbCr, each level half the one above, down
    to one tile), or None for any other origin."""
    file.seek(0)
    if file.read(4) not in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):  # (TIFF, BigTIFF)
        return None
    file.seek(0)
    try:
        with tifffile.TiffFile(file, name="origin") as tiff:
            pages = [p for p in tiff.pages if isinstance(p, tifffile.TiffPage)]
    except Exception:  # (tifffile's many kinds of "this is not a TIFF it reads")
        return None
    height, width = pages[0].shape[:2] if pages else (0, 0)
    for level, page in enumerate(pages):
        photometric = {1: 1, 3: 6}.get(page.samplesperpixel)  # (gray; YCbCr)
        if not (
            page.is_tiled
            and (page.tilewidth, page.tilelength) == (TILE, TILE)
            and page.compression == 7  # JPEG
            and page.bitspersample == 8
            and page.photometric == photometric
            and page.shape[:2] == (height >> level, width >> level)
        ):
            return None
    last = pages[-1].shape[:2]
    return (width, height) if last[0] <= TILE and last[1] <= TILE else None


def read_tile_index(pyramid: Path | IO[bytes]) -> dict[str, Any]:
    """Return where the tiles of a pyramid lie: for each level (full size first) its width and
    height, the offset and length in the file of each JPEG tile (row by row), and the JPEG
    tables its tiles share (base64); no edge tiles (tifffile reads only the headers)."""
    with tifffile.TiffFile(pyramid) as tiff:
        pages = list(tiff.pages)
        return {
            "levels": [[page.shape[1], page.shape[0]] for page in pages],
            "offsets": [list(page.dataoffsets) for page in pages],
            "counts": [list(page.databytecounts) for page in pages],
            "tables": [base64.b64encode(page.jpegtables or b"").decode() for page in pages],
            "edges": {},
        }


def make_tile_index(folder: Path) -> None:
    """Write the index of the tiles of the pyramid in ``folder``, and its edge tiles.

    An edge tile (``level/column/row`` in the index) is the part of the level's tile that lies
    inside the level, as a JPEG of its own in the edges file, encoded as the image server
    encodes a region at its own size, so that it is the same response either way.
    """
    pyramid = folder / PYRAMID
    index = read_tile_index(pyramid)
    with (folder / EDGES).open("wb") as out:
        for level, (width, height) in enumerate(index["levels"]):
            page = pyvips.Image.new_from_file(str(pyramid), page=level, access="random")
            for row in range(-(-height // TILE)):
                for column in range(-(-width // TILE)):
                    w, h = min(TILE, width - column * TILE), min(TILE, height - row * TILE)
                    if (w, h) == (TILE, TILE):
                        continue
                    tile = page.crop(column * TILE, row * TILE, w, h)
                    data = tile.jpegsave_buffer(Q=QUALITY, keep="none")
                    index["edges"][f"{level}/{column}/{row}"] = [out.tell(), len(data)]
                    out.write(data)
    (folder / INDEX).write_text(json.dumps(index, separators=(",", ":")))


def remove_derivatives(files: Files, keys: Mapping[str, Any], keep: int | None = None) -> None:
    """Remove what was made of an image: for every registration, or all but ``keep``'s."""
    files.remove(derivatives_prefix(keys), str(int(keep)) if keep is not None else None)
