"""The IIIF Image API's request grammar, 3.0 and 2.1: what an image request asks for.

``{region}/{size}/{rotation}/{quality}.{format}`` is read against the image's width and
height into an :class:`ImageRequest` in pixels: the region clipped to the image, the size
of the result, mirroring and rotation, quality and format. Each fault is a
:class:`IIIFError` naming the part that is wrong: 400 for what the grammar does not allow or
the image cannot give, 501 for what the API defines and this server does not do.

Numbers are ASCII decimals only, as the grammar says (no signs, spaces or other digits), of
at most :data:`MAX_DIGITS` digits before any decimal point: a number past any image's extent
(a pixel or a percentage beyond 10^15) asks for nothing this server could make, and one of
hundreds of digits is past what a float holds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Formats the API names that this server does not make (501, not 400).
KNOWN_FORMATS = ("tif", "gif", "pdf", "jp2")

_INT = r"[0-9]+"
_FLOAT = r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
_PIXELS = re.compile(rf"({_INT}),({_INT}),({_INT}),({_INT})")
_PERCENT = re.compile(rf"pct:({_FLOAT}),({_FLOAT}),({_FLOAT}),({_FLOAT})")
_SIZE_PCT = re.compile(rf"pct:({_FLOAT})")
_SIZE_WH = re.compile(rf"(!)?({_INT})?,({_INT})?")
_ROTATION = re.compile(rf"(!)?({_FLOAT})")
MAX_DIGITS = 15


class IIIFError(Exception):
    """A request the Image API grammar does not allow (400) or this server does not do (501)."""

    def __init__(self, part: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.part, self.message, self.status = part, message, status


def _whole(text: str, part: str, spelled: str) -> int:
    # A whole number of the grammar, of at most MAX_DIGITS digits (leading zeros aside).
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise IIIFError(part, f"{spelled!r} holds a number of more than {MAX_DIGITS} digits")
    return int(text)


def _decimal(text: str, part: str, spelled: str) -> float:
    # A decimal of the grammar, of at most MAX_DIGITS digits before its point.
    if len(text.partition(".")[0].lstrip("0")) > MAX_DIGITS:
        raise IIIFError(part, f"{spelled!r} holds a number of more than {MAX_DIGITS} digits")
    return float(text)


@dataclass(frozen=True)
class Limits:
    """The largest result this server makes (declared in info.json as maxWidth, maxArea)."""

    max_width: int
    max_height: int
    max_area: int


@dataclass(frozen=True)
class ImageRequest:
    """An image request in pixels of the full image."""

    region: tuple[int, int, int, int]  # x, y, width, height: inside the image
    size: tuple[int, int]  # width, height of the result before rotation
    mirror: bool
    rotation: float  # clockwise degrees, after mirroring
    quality: str
    format: str

    @property
    def media_type(self) -> str:
        """The media type of the result."""
        return FORMATS[self.format]


def parse(
    version: int,
    region: str,
    size: str,
    rotation: str,
    quality_format: str,
    width: int,
    height: int,
    limits: Limits,
) -> ImageRequest:
    """Read an image request of Image API ``version`` (3 or 2) against an image's extent."""
    quality, dot, format_ = quality_format.rpartition(".")
    if not dot:
        raise IIIFError("format", f"{quality_format!r} names no format: end it with .jpg")
    if quality not in QUALITIES:
        raise IIIFError("quality", f"{quality!r} is not one of {', '.join(QUALITIES)}")
    if format_ not in FORMATS:
        if format_ in KNOWN_FORMATS:
            raise IIIFError("format", f"{format_} is not made here: ask for jpg, png or webp", 501)
        raise IIIFError("format", f"{format_!r} is not an image format: ask for jpg, png or webp")
    box = parse_region(region, width, height)
    result = parse_size(version, size, box[2], box[3], limits)
    mirror, degrees = parse_rotation(rotation)
    return ImageRequest(box, result, mirror, degrees, quality, format_)


def parse_region(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    """Return the region ``text`` names, clipped to the image, as x, y, width, height."""
    if text == "full":
        return 0, 0, width, height
    if text == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    found = _PIXELS.fullmatch(text)
    if found:
        x, y, w, h = (_whole(v, "region", text) for v in found.groups())
    else:
        found = _PERCENT.fullmatch(text)
        if found is None:
            raise IIIFError(
                "region", f"{text!r} is not full, square, x,y,w,h or pct:x,y,w,h (in decimals)"
            )
        px, py, pw, ph = (_decimal(v, "region", text) for v in found.groups())
        x, y = round(px * width / 100), round(py * height / 100)
        w, h = round(pw * width / 100), round(ph * height / 100)
    if w == 0 or h == 0:
        raise IIIFError("region", f"{text!r} has no area")
    if x >= width or y >= height:
        raise IIIFError("region", f"{text!r} lies outside the image ({width} x {height})")
    return x, y, min(w, width - x), min(h, height - y)


def _largest(rw: int, rh: int, limits: Limits, *, upscale: bool) -> tuple[int, int]:
    # The region at the largest scale the server's limits allow (at most 1 unless upscaling).
    scale = min(
        limits.max_width / rw, limits.max_height / rh, math.sqrt(limits.max_area / (rw * rh))
    )
    if not upscale:
        scale = min(scale, 1.0)
    return max(1, math.floor(rw * scale + 1e-9)), max(1, math.floor(rh * scale + 1e-9))


def parse_size(version: int, text: str, rw: int, rh: int, limits: Limits) -> tuple[int, int]:
    """Return the width and height of the result that ``text`` asks for a ``rw`` x ``rh`` region.

    Image API 3 makes a result larger than the region only when ``^`` asks for it; 2.1 does
    whenever the size asks for it. Never past the server's limits.
    """
    upscale = version == 2
    spec = text
    if version == 3 and spec.startswith("^"):
        upscale, spec = True, spec[1:]
    if spec == "max" or (version == 2 and spec == "full"):
        return _largest(rw, rh, limits, upscale=upscale and version == 3)
    found = _SIZE_PCT.fullmatch(spec)
    if found:
        n = _decimal(found.group(1), "size", text)
        w, h = round(rw * n / 100), round(rh * n / 100)
    else:
        found = _SIZE_WH.fullmatch(spec)
        if found is None or (found.group(2) is None and found.group(3) is None):
            raise IIIFError("size", f"{text!r} is not max, w,, ,h, w,h, !w,h or pct:n")
        confined = found.group(1)
        given_w, given_h = (
            None if v is None else _whole(v, "size", text) for v in found.group(2, 3)
        )
        if confined and (given_w is None or given_h is None):
            raise IIIFError("size", f"{text!r}: !w,h needs both a width and a height")
        if confined:
            assert given_w is not None and given_h is not None
            scale = min(given_w / rw, given_h / rh)
            w, h = round(rw * scale), round(rh * scale)
            if not upscale and scale > 1:
                w, h = round(rw * scale), round(rh * scale)
                raise IIIFError(
                    "size",
                    f"{text!r} is larger than the region: {_upscaled(text, w, h, rw, rh, limits)}",
                )
        elif given_w is not None and given_h is not None:
            w, h = given_w, given_h
        elif given_w is not None:
            w = given_w
            h = round(rh * w / rw)
        else:
            assert given_h is not None
            h = given_h
            w = round(rw * h / rh)
    if w < 1 or h < 1:
        raise IIIFError("size", f"{text!r} makes an image with no pixels")
    if not upscale and (w > rw or h > rh):
        hint = _upscaled(text, w, h, rw, rh, limits)
        raise IIIFError("size", f"{text!r} is larger than the region ({rw} x {rh}): {hint}")
    if not _within(w, h, limits):
        lw, lh = _largest(rw, rh, limits, upscale=upscale)
        raise IIIFError(
            "size",
            f"{text!r} is larger than this server makes (maxWidth {limits.max_width}, "
            f"maxArea {limits.max_area}): the largest of this region is {lw},{lh}",
        )
    return w, h


def _within(w: int, h: int, limits: Limits) -> bool:
    return w <= limits.max_width and h <= limits.max_height and w * h <= limits.max_area


def _upscaled(text: str, w: int, h: int, rw: int, rh: int, limits: Limits) -> str:
    # What an Image API 3 request larger than its region may ask instead: ^ and the size, when
    # this server makes that, else the largest it makes.
    if _within(w, h, limits):
        return f"ask for ^{text}"
    lw, lh = _largest(rw, rh, limits, upscale=True)
    return f"the largest this server makes of it is ^{lw},{lh}"


def parse_rotation(text: str) -> tuple[bool, float]:
    """Return whether ``text`` mirrors the image, and by how many degrees it turns it."""
    found = _ROTATION.fullmatch(text)
    if found is None:
        raise IIIFError("rotation", f"{text!r} is not a number of degrees (or ! and one)")
    degrees = _decimal(found.group(2), "rotation", text)
    if degrees > 360:
        raise IIIFError("rotation", f"{text!r} is more than 360 degrees")
    return bool(found.group(1)), degrees % 360
