"""What ingest makes of an origin's bytes: run in a process of its own (:mod:`app.ingest.sandbox`).

Everything here reads bytes a stranger chose, with decoders written in C: :func:`derive` runs
in a child process bounded in memory and time, which imports this module and nothing else of
the app. It finds what the origin is (the media type from the content, an image's size from
its header: nothing decoded), refuses what would take more memory to decode than one ingest
may (:func:`decoding_cost`), then makes an image's tiled pyramid, the index of its tiles and
its edge tiles, and its thumbnails, in a work folder the parent publishes.

How much of an image is held in memory at once depends on its format, and the header says
it before anything is decoded:

- streamed by libvips, a band of rows at a time, whatever the image's size: baseline JPEG,
  non-interlaced PNG, a TIFF of tiles or of strips of a few rows;
- decoded whole, so its pixels times its bytes a pixel: progressive JPEG (libjpeg keeps every
  coefficient, 2 bytes a sample), interlaced PNG, a TIFF strip (its rows at once), WebP, GIF,
  HEIF and the other formats libvips reads whole;
- decoded by Pillow, whole, in the formats libvips does not read (BMP, JPEG 2000, ...): the
  decoded image, then it converted to RGB(A), then those bytes handed to libvips (three
  copies at the peak; two of the converted size).

A pyramid is made by streaming whatever it is made from, so what a small file declaring a
large image costs beyond that is time and storage: a JPEG of a few hundred bytes declaring
15000 x 15000 is decoded as an image of 225 million pixels (DLCS_MAX_IMAGE_PIXELS bounds it).
"""

from __future__ import annotations

import base64
import json
import shutil
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import filetype
import pyvips
import tifffile
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from app.ingest.errors import IngestError

QUALITY = 85
TILE = 256
PYRAMID = "pyramid.tif"
ALPHA = "alpha.tif"  # (an image with transparency: its alpha, a pyramid of its own)
INDEX = "tiles.json"
EDGES = "edges.jpg"
THUMBS = "thumbs"
SIZES = "sizes.json"
# The image optimisation policies ingest applies to images (vocabulary: ImageOptimisationPolicy).
MADE, USE_ORIGINAL = "fast-higher", "use-original"
# What a file is when its first bytes do not say.
UNKNOWN = "application/octet-stream"
HEAD = 8192
# The most directories a TIFF may have to be taken as a ready-made pyramid: one level a halving,
# down to a tile, of a side of 2^40 pixels; no image within any pixel limit has more.
MAX_LEVELS = 32
# How libvips and glib say that an allocation (or a thread's stack) was refused.
_OUT_OF_MEMORY = ("out of memory", "memory allocation", "Error creating thread")
# What an origin's truncation does (DLCS_INGEST_TRUNCATED): fail its ingest, or be recorded.
TRUNCATED = ("error", "warning")


# Pillow finds its format plugins when it first opens a file: found once here, in the fork
# server that imports this module (app.ingest.sandbox), rather than in each child (6 ms).
Image.init()


@dataclass(frozen=True)
class Inspected:
    """What an origin turned out to be."""

    media_type: str
    kind: str  # "image", "audio", "video" or "file"
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Limits:
    """What one ingest's decoding may take (from the app's configuration)."""

    max_pixels: int
    memory: int  # bytes the decoders may hold at once
    truncated: str = "error"  # one of TRUNCATED


@dataclass(frozen=True)
class Made:
    """What :func:`derive` found and made: the origin, the policy applied, and what it noticed
    that did not stop it (``warning``)."""

    found: Inspected
    policy: str | None
    warning: str = ""


def derive(origin: str, folder: str, family: str, sizes: list[int], limits: Limits) -> Made:
    """Find what the file ``origin`` is and, for an image of family I, make what is served of
    it in ``folder``; fail with an :class:`IngestError` saying why not, or MemoryError.

    Run by :func:`app.ingest.sandbox.run`, in a process whose memory is bounded by
    ``limits.memory`` beyond its own."""
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    with open(origin, "rb") as file:
        found = inspect(file, limits.max_pixels)
        check_family(family, found)
        if found.kind != "image" or family == "F":
            return Made(found, None)  # (a file is kept as it is: app.ingest.service)
        try:
            file.seek(0)
            with Image.open(file) as header:
                cost = decoding_cost(origin, header)
            if cost > limits.memory:
                raise IngestError(
                    f"decoding this {found.media_type} image of {found.width}x{found.height} "
                    f"pixels takes about {cost // 2**20} MB at once, over the limit of "
                    f"{limits.memory // 2**20} MB for one ingest (DLCS_INGEST_MEMORY_MB)"
                )
            width, height, policy, warning = make_pyramid(origin, Path(folder), limits.truncated)
            make_tile_index(Path(folder))
            make_thumbnails(Path(folder), sizes)
        except (OSError, ValueError, SyntaxError, pyvips.Error) as exc:
            if any(words in str(exc) for words in _OUT_OF_MEMORY):
                raise MemoryError(str(exc)) from exc  # (as Python's own: the sandbox says it)
            raise IngestError(_decoding(exc)) from exc
    return Made(replace(found, width=width, height=height), policy, warning)


# -- what the origin is --------------------------------------------------------------------------


def inspect(file: IO[bytes], max_pixels: int) -> Inspected:
    """Return the media type (and for images the size) of the bytes in ``file``.

    Images are identified by Pillow, which reads only the header: nothing is decoded here, and
    an image with more pixels than ``max_pixels`` is refused. Other files are identified from
    their first bytes.
    """
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size
                media_type = Image.MIME.get(image.format or "", f"image/{image.format}".lower())
        if width * height > max_pixels:
            raise IngestError(
                f"the image is {width}x{height} pixels, over the limit of {max_pixels} pixels "
                "(DLCS_MAX_IMAGE_PIXELS)"
            )
        return Inspected(media_type, "image", width, height)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise IngestError(
            f"the image is too large to process safely (DLCS_MAX_IMAGE_PIXELS): {exc}"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        unreadable: Exception | None = exc
    file.seek(0)
    guess = filetype.guess(file.read(HEAD))
    file.seek(0)
    if guess is None:
        return Inspected(UNKNOWN, "file")
    major = guess.mime.split("/", 1)[0]
    if major == "image":  # looks like an image, yet the image library cannot read it
        raise IngestError(f"the image could not be decoded ({guess.mime}): {unreadable}")
    return Inspected(guess.mime, major if major in ("audio", "video") else "file")


# What each family of the Image accepts.
FAMILY_KINDS = {"I": ("image",), "T": ("audio", "video"), "F": ("image", "audio", "video", "file")}
FAMILY_NAMES = {"I": "an image", "T": "audio or video", "F": "a file"}


def check_family(family: str, found: Inspected) -> None:
    """Fail when the content does not fit the image's declared family."""
    if found.kind not in FAMILY_KINDS.get(family, ()):
        hint = {"image": "I", "audio": "T", "video": "T"}.get(found.kind, "F")
        raise IngestError(
            f"the origin is {found.media_type}, not {FAMILY_NAMES.get(family, family)}: "
            f"register it with family {hint}"
        )


# -- what decoding it costs ----------------------------------------------------------------------

# Bytes a pixel of each of Pillow's modes (what a decoder makes of the file's samples).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16B": 2,
               "I;16L": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4,
               "RGBX": 4, "CMYK": 4, "I": 4, "F": 4}  # fmt: skip
# libvips's loaders that read a band of rows at a time (the others decode the image whole).
_STREAMED = ("VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadTiff")
_ROWS_PER_STRIP, _TILE_WIDTH = 278, 322


def decoding_cost(path: str, header: Image.Image) -> int:
    """Return about how many bytes decoding the image at ``path`` holds at once, from its
    header (``header``, opened by Pillow): 0 for an image that libvips streams."""
    width, height = header.size
    pixel = _MODE_BYTES.get(header.mode, 4)
    loader = _loader(path)
    if not loader:  # (Pillow: the image, the image converted, and its bytes)
        converted = 4 if "A" in header.getbands() else 3
        return width * height * (pixel + 2 * converted)
    if not loader.startswith(_STREAMED):  # (as RGBA, or as decoded if that is larger)
        return width * height * max(pixel, 4)
    if loader.startswith("VipsForeignLoadJpeg"):
        return width * height * len(header.getbands()) * 2 if "progression" in header.info else 0
    if loader.startswith("VipsForeignLoadPng"):
        return width * height * pixel if header.info.get("interlace") else 0
    tags = getattr(header, "tag_v2", {})
    if _TILE_WIDTH in tags:
        return 0
    rows = min(int(tags.get(_ROWS_PER_STRIP, height)), height)
    return width * rows * pixel


# -- the tiled pyramid ---------------------------------------------------------------------------


def make_pyramid(path: str, folder: Path, truncated: str = "error") -> tuple[int, int, str, str]:
    """Make the tiled pyramid of the image at ``path`` in ``folder``; return its width and
    height, the image optimisation policy applied, and a warning (or "").

    ``fast-higher``: a TIFF of 256 px JPEG tiles at every level down to one tile (libvips),
    which the Image API reads any region from at the nearest level. ``use-original``: an
    origin that is such a pyramid already is kept as it is. A truncated origin fails, or with
    ``truncated="warning"`` is made as far as it goes (the rest flat grey) and said so.
    """
    with open(path, "rb") as file:
        ready = _ready_pyramid(file)
    if ready is not None:
        shutil.copyfile(path, folder / PYRAMID)
        return (*ready, USE_ORIGINAL, "")
    try:
        width, height = _tiled(path, folder, fail=True)
        return width, height, MADE, ""
    except pyvips.Error as exc:
        if not _is_truncation(exc):
            raise IngestError(_decoding(exc)) from exc
        if truncated != "warning":
            raise IngestError(_truncation(exc)) from exc
        warning = _truncation(exc)
    width, height = _tiled(path, folder, fail=False)
    return width, height, MADE, warning


def _tiled(path: str, folder: Path, *, fail: bool) -> tuple[int, int]:
    # The pyramid of JPEG tiles (transparency flattened onto white) and, for an image with an
    # alpha channel, the pyramid of its alpha (lossless), from a second reading of the file:
    # libvips streams it through once for each.
    loaded = _load(path, fail=fail)
    transparent = loaded.hasalpha()
    image = _for_jpeg(loaded)
    _save_pyramid(image, folder / PYRAMID, compression="jpeg", Q=QUALITY)
    if transparent:
        again = _load(path, fail=fail).autorot()
        alpha = again.extract_band(again.bands - 1)
        alpha = alpha.cast("uchar", shift=True) if alpha.format == "ushort" else alpha
        _save_pyramid(alpha.cast("uchar"), folder / ALPHA, compression="deflate")
    return image.width, image.height


def _save_pyramid(image: pyvips.Image, path: Path, **options: Any) -> None:
    image.tiffsave(
        str(path),
        tile=True,
        tile_width=TILE,
        tile_height=TILE,
        pyramid=True,
        bigtiff=image.width * image.height * image.bands > 2**31,
        **options,
    )


def _is_truncation(exc: Exception) -> bool:
    words = str(exc).lower()
    return any(
        w in words for w in ("premature end", "truncated", "not enough data", "unexpected end")
    )


def _truncation(exc: Exception) -> str:
    return f"the image is truncated: its file ends before all of its pixels ({_first_line(exc)})"


def _decoding(exc: Exception) -> str:
    return f"the image could not be decoded: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("unable to call")] or lines
    return "; ".join(lines[:3])


def _load(path: str, *, fail: bool) -> pyvips.Image:
    # libvips reads most formats as the file streams through; what its build lacks (JPEG
    # 2000, BMP) Pillow decodes whole (decoding_cost has said what that takes). ``fail``:
    # a file that ends before its pixels do is an error, not flat grey.
    if _loader(path):
        return pyvips.Image.new_from_file(
            path, access="sequential", fail_on="truncated" if fail else "none"
        )
    # (Pillow refuses a truncated file unless told to take it: this process's setting)
    ImageFile.LOAD_TRUNCATED_IMAGES = not fail
    with Image.open(path) as opened:
        try:
            picture = ImageOps.exif_transpose(opened)
            picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
        except OSError as exc:  # (Pillow's word for a truncated file)
            raise pyvips.Error(str(exc)) from exc
        bands = len(picture.getbands())
        return pyvips.Image.new_from_memory(
            picture.tobytes(), picture.width, picture.height, bands, "uchar"
        )


def _loader(path: str) -> str:
    # The name of libvips's loader of the file, "" when it has none (pyvips's own way of
    # choosing one: libvips's C function, which pyvips does not wrap).
    found = pyvips.vips_lib.vips_foreign_find_load(path.encode())
    if found == pyvips.ffi.NULL:
        pyvips.vips_lib.vips_error_clear()
        return ""
    return str(pyvips.ffi.string(found).decode())


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


def _ready_pyramid(file: IO[bytes]) -> tuple[int, int] | None:
    """Return the width and height of an origin that is a pyramid as ingest makes them
    (a TIFF of 256 px JPEG tiles, 8-bit gray or YCbCr, each level half the one above, down
    to one tile), or None for any other origin.

    At most :data:`MAX_LEVELS` directories are read, and a TIFF whose directories loop (one
    names an earlier one as the next) is refused: tifffile, asked for all of them, would read
    on without end.
    """
    file.seek(0)
    if file.read(4) not in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):  # (TIFF, BigTIFF)
        return None
    file.seek(0)
    try:
        with tifffile.TiffFile(file, name="origin") as tiff:
            pages = _levels(tiff)
    except (IngestError, MemoryError):
        raise
    except Exception:  # (tifffile's many kinds of "this is not a TIFF it reads")
        return None
    if not pages:
        return None
    height, width = pages[0].shape[:2]
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


def _levels(tiff: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    # The TIFF's directories, if there are no more than a pyramid's levels; [] if there are.
    pages: list[tifffile.TiffPage] = []
    seen: set[int] = set()
    for index in range(MAX_LEVELS + 1):
        try:
            page = tiff.pages[index]
        except IndexError:
            return pages
        if not isinstance(page, tifffile.TiffPage):
            return []
        if page.offset in seen:
            raise IngestError(
                f"the TIFF is malformed: its directory {index + 1} is an earlier one again "
                f"(at byte {page.offset}), so its directories never end"
            )
        seen.add(page.offset)
        pages.append(page)
    return []


def read_tile_index(pyramid: Path | IO[bytes]) -> dict[str, Any]:
    """Return where the tiles of a pyramid lie: for each level (full size first) its width and
    height, the offset and length in the file of each JPEG tile (row by row), and the JPEG
    tables its tiles share (base64); no edge tiles (tifffile reads only the headers)."""
    with tifffile.TiffFile(pyramid) as tiff:
        pages = list(tiff.pages)  # (made here, or checked by _ready_pyramid)
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
    index["alpha"] = (folder / ALPHA).exists()
    (folder / INDEX).write_text(json.dumps(index, separators=(",", ":")))


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
