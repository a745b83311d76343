"""The image server: an image's IIIF description, and any region of it from its pyramid.

A request is read at the pyramid's level nearest above the size asked for (a 256 px tile of a
level is read from that level's tiles alone), then scaled, mirrored, turned, toned and
encoded by libvips.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import pyvips

from app.delivery.iiif import FORMATS, QUALITIES, ImageRequest, Limits
from app.ingest.decode import TILE, read_tile_index
from app.ingest.derivatives import alpha_key, edges_key, index_key, pyramid_key
from app.storage.files import Files

CONTEXTS = {
    3: "http://iiif.io/api/image/3/context.json",
    2: "http://iiif.io/api/image/2/context.json",
}
PROTOCOL = "http://iiif.io/api/image"
JPEG_QUALITY = 85
TRANSPARENT = ("png", "webp")  # (the formats that keep an image's transparency)
_BICUBIC = pyvips.Interpolate.new("bicubic")
# What this server does beyond level 2 of each version; each one is tested.
EXTRA_FEATURES_3 = [
    "baseUriRedirect",
    "canonicalLinkHeader",
    "cors",
    "jsonldMediaType",
    "mirroring",
    "rotationArbitrary",
    "sizeUpscaling",
]
SUPPORTS_2 = [
    "baseUriRedirect",
    "canonicalLinkHeader",
    "cors",
    "jsonldMediaType",
    "mirroring",
    "regionSquare",
    "rotationArbitrary",
    "sizeAboveFull",
]


@dataclass(frozen=True)
class Pyramid:
    """An image's pyramid, as its index says (:func:`app.ingest.decode.make_tile_index`):
    for each level (full size first) its extent, where each of its JPEG tiles lies in the
    pyramid's file with the JPEG tables they share, and where its edge tiles lie."""

    files: Files
    key: str
    edges_key: str
    levels: tuple[tuple[int, int], ...]
    offsets: tuple[tuple[int, ...], ...]
    counts: tuple[tuple[int, ...], ...]
    tables: tuple[bytes, ...]
    edges: dict[str, tuple[int, int]]
    alpha_key: str | None = None  # (an image with transparency: the pyramid of its alpha)

    @property
    def width(self) -> int:
        """The width of the image."""
        return self.levels[0][0]

    @property
    def height(self) -> int:
        """The height of the image."""
        return self.levels[0][1]

    def page(self, level: int, *, alpha: bool = False) -> pyvips.Image:
        """Return one level of the pyramid (``alpha``: of its alpha's) for libvips to read
        regions from.

        libvips reads through a descriptor of the file opened here, which stays readable
        while the image is in use, whatever a cache does with the file meanwhile (by its
        path, libvips would open it again when it reads pixels, by then perhaps evicted).
        """
        key = self.alpha_key if alpha and self.alpha_key else self.key
        file = self.files.open(key)
        if file is None:
            raise FileNotFoundError(key)
        with file:  # (the source holds a duplicate of the descriptor)
            source = pyvips.Source.new_from_descriptor(file.fileno())
        return pyvips.Image.new_from_source(source, "", page=level, access="random")

    def tile(self, level: int, column: int, row: int) -> bytes | None:
        """Return one stored tile as a JPEG of its own (an edge tile at its own size), or None
        for an edge tile the index does not have (a pyramid indexed before they were made)."""
        width, height = self.levels[level]
        if (column + 1) * TILE > width or (row + 1) * TILE > height:
            place = self.edges.get(f"{level}/{column}/{row}")
            return self.files.read_range(self.edges_key, *place) if place else None
        index = row * -(-width // TILE) + column
        data = self.files.read_range(
            self.key, self.offsets[level][index], self.counts[level][index]
        )
        tables = self.tables[level]
        # (tables and data are each a JPEG stream: SOI ... EOI; one stream is the two joined)
        return tables[:-2] + data[2:] if tables and data else data


@functools.lru_cache(maxsize=1024)
def open_pyramid(files: Files, keys: tuple[int, int, str], generation: int) -> Pyramid | None:
    """Return the pyramid of one registration of an image, or None when it has none.

    Kept for the registration, because what was made for one registration never changes (a
    new one's is made under another prefix): reading a pyramid's headers anew took 1.2 ms,
    against about 1.8 ms for all the rest of a viewer tile (bench/RESULTS.md). A pyramid made
    before its index was is indexed from its TIFF headers, without edge tiles.
    """
    image = dict(zip(("customer", "space", "image"), keys, strict=True))
    key = pyramid_key(image, generation)
    found = files.read(index_key(image, generation))
    if found is not None:
        index = json.loads(found)
    else:
        file = files.open(key)
        if file is None:
            return None
        with file:
            index = read_tile_index(file)
    return Pyramid(
        files,
        key,
        edges_key(image, generation),
        tuple((w, h) for w, h in index["levels"]),
        tuple(tuple(level) for level in index["offsets"]),
        tuple(tuple(level) for level in index["counts"]),
        tuple(base64.b64decode(tables) for tables in index["tables"]),
        {name: (offset, count) for name, (offset, count) in index["edges"].items()},
        alpha_key(image, generation) if index.get("alpha") else None,
    )


def info(
    version: int, service_id: str, pyramid: Pyramid, limits: Limits, open_side: int | None = None
) -> dict[str, Any]:
    """Return the ``info.json`` of an image for Image API ``version`` (3 or 2).

    ``open_side``: for a caller who may see only the whole image with a longest side of at
    most that (an image with roles): the sizes within it and the largest it opens, tiles of the
    largest power of two no larger than it at the one scale where a tile is the whole image,
    and it as the largest width and height.
    """
    sizes = [{"width": w, "height": h} for w, h in reversed(pyramid.levels[1:])]
    factors = [2**k for k in range(len(pyramid.levels))]
    tiles = [{"width": TILE, "height": TILE, "scaleFactors": factors}]
    max_width, max_height, max_area = limits.max_width, limits.max_height, limits.max_area
    if open_side is not None:
        sizes = [s for s in sizes if max(s["width"], s["height"]) <= open_side]
        longest = max(pyramid.width, pyramid.height)
        if 0 < open_side < longest:  # (the largest size open to anyone, as the API makes it)
            largest = {
                "width": max(1, round(pyramid.width * open_side / longest)),
                "height": max(1, round(pyramid.height * open_side / longest)),
            }
            if largest not in sizes:
                sizes.append(largest)
        tile = 2 ** int(math.log2(min(TILE, open_side))) if open_side > 0 else 0
        factor = 1
        while tile and tile * factor < max(pyramid.width, pyramid.height):
            factor *= 2
        tiles = [{"width": tile, "height": tile, "scaleFactors": [factor]}] if tile else []
        max_width = max_height = open_side
        max_area = min(limits.max_area, open_side * open_side)
    if version == 3:
        return {
            "@context": CONTEXTS[3],
            "id": service_id,
            "type": "ImageService3",
            "protocol": PROTOCOL,
            "profile": "level2",
            "width": pyramid.width,
            "height": pyramid.height,
            "maxWidth": max_width,
            "maxHeight": max_height,
            "maxArea": max_area,
            "sizes": sizes,
            "tiles": tiles,
            "extraQualities": [q for q in QUALITIES if q != "default"],
            "extraFormats": ["webp"],
            "extraFeatures": EXTRA_FEATURES_3,
        }
    return {
        "@context": CONTEXTS[2],
        "@id": service_id,
        "protocol": PROTOCOL,
        "width": pyramid.width,
        "height": pyramid.height,
        "sizes": sizes,
        "tiles": tiles,
        "profile": [
            "http://iiif.io/api/image/2/level2.json",
            {
                "formats": list(FORMATS),
                "qualities": list(QUALITIES),
                "supports": SUPPORTS_2,
                "maxWidth": max_width,
                "maxHeight": max_height,
                "maxArea": max_area,
            },
        ],
    }


def _level(pyramid: Pyramid, asked: ImageRequest) -> int:
    # The smallest level that still has at least the pixels asked for.
    _x, _y, w, h = asked.region
    tw, th = asked.size
    level = 0
    while (
        level + 1 < len(pyramid.levels)
        and w / 2 ** (level + 1) >= tw
        and h / 2 ** (level + 1) >= th
    ):
        level += 1
    return level


def stored_tile(pyramid: Pyramid, asked: ImageRequest) -> bytes | None:
    """Return the stored JPEG of a request that is exactly one tile of a level at its own
    size (as a viewer's requests are), neither decoded nor encoded again; None for any other
    request."""
    if asked.format != "jpg" or asked.quality not in ("default", "color"):
        return None
    if asked.mirror or asked.rotation:
        return None
    level = _level(pyramid, asked)
    factor = 2**level
    span = TILE * factor
    x, y, w, h = asked.region
    if x % span or y % span:
        return None
    column, row = x // span, y // span
    width, height = pyramid.levels[level]
    # The tile's pixels in its level: 256 x 256 but at the level's right and bottom edges.
    extent = (min(TILE, width - column * TILE), min(TILE, height - row * TILE))
    if asked.size != extent or (w, h) != (extent[0] * factor, extent[1] * factor):
        return None
    return pyramid.tile(level, column, row)


def render(pyramid: Pyramid, asked: ImageRequest) -> bytes:
    """Return the encoded result of an image request."""
    stored = stored_tile(pyramid, asked)
    if stored is not None:
        return stored
    image = _scaled(pyramid, asked)
    if pyramid.alpha_key and asked.format in TRANSPARENT:
        image = _unflattened(image, _scaled(pyramid, asked, alpha=True))
    if asked.mirror:
        image = image.fliphor()
    image = _turn(image, asked.rotation, transparent=asked.format == "png")
    image = _tone(image, asked.quality)
    return _encode(image, asked.format)


def _unflattened(image: pyvips.Image, alpha: pyvips.Image) -> pyvips.Image:
    # The pyramid's colours were flattened onto white for its JPEG tiles: c' = a c + (1 - a) 255
    # with a = alpha / 255; what was there before is c = (c' - (1 - a) 255) / a (nothing where
    # a = 0: libvips divides by 0 as 0), clipped to 0..255, and the alpha joined to it.
    a = alpha.cast("float") / 255
    colour = (image.cast("float") - (1 - a) * 255) / a
    return colour.cast("uchar").bandjoin(alpha)


def _scaled(pyramid: Pyramid, asked: ImageRequest, *, alpha: bool = False) -> pyvips.Image:
    # The region at the size asked for, read from the level nearest above that size. A region
    # rarely starts on a whole pixel of a smaller level: the whole pixels around it are read,
    # and one affine transform scales them and moves them by the fraction of a pixel, so the
    # result is not shifted (cropping the scaled pixels instead was off by up to half a pixel
    # of the result: 4 pixels of the image at 1/9 of its size).
    level = _level(pyramid, asked)
    image = pyramid.page(level, alpha=alpha)
    x, y, w, h = asked.region
    # Each pixel of level k is 2^k x 2^k pixels of the image (a level drops an odd last row or
    # column rather than stretch to cover it).
    per = 1 / 2**level
    fx, fy, fw, fh = x * per, y * per, w * per, h * per
    left, top = math.floor(fx), math.floor(fy)
    right = min(image.width, max(left + 1, math.ceil(fx + fw)))
    bottom = min(image.height, max(top + 1, math.ceil(fy + fh)))
    image = image.crop(left, top, right - left, bottom - top)
    tw, th = asked.size
    if (fx, fy, fw, fh) == (left, top, tw, th):
        return image  # (whole pixels at their own size)
    sx, sy = tw / fw, th / fh
    return image.affine(
        [sx, 0, 0, sy],
        oarea=[0, 0, tw, th],
        odx=-(fx - left) * sx,
        ody=-(fy - top) * sy,
        interpolate=_BICUBIC,
        extend="copy",
    )


def _turn(image: pyvips.Image, degrees: float, *, transparent: bool) -> pyvips.Image:
    if degrees == 0:
        return image
    if degrees in (90, 180, 270):
        return getattr(image, f"rot{int(degrees)}")()
    if transparent and not image.hasalpha():
        image = image.bandjoin(255)
    background = [0] * image.bands if transparent else [255] * image.bands
    return image.rotate(degrees, background=background)


def _tone(image: pyvips.Image, quality: str) -> pyvips.Image:
    if quality in ("default", "color"):
        return image
    alpha = image.extract_band(image.bands - 1) if image.hasalpha() else None
    gray = image.colourspace("b-w")
    if gray.hasalpha():
        gray = gray.extract_band(0)
    if quality == "bitonal":
        gray = (gray > 127).ifthenelse(255, 0).cast("uchar")
    return gray.bandjoin(alpha) if alpha is not None else gray


def _encode(image: pyvips.Image, format_: str) -> bytes:
    if format_ == "jpg":
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        return image.jpegsave_buffer(Q=JPEG_QUALITY, keep="none")
    if format_ == "png":
        return image.pngsave_buffer(compression=6, keep="none")
    return image.webpsave_buffer(Q=80, keep="none")
