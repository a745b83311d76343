"""Inspecting fetched bytes: the media type from the content, and an image's size.

Images are identified by Pillow, which reads only the header: nothing is decoded here, and
an image with more pixels than the configured limit is refused as a decompression bomb.
Other files are identified from their first bytes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import IO

import filetype
from PIL import Image, UnidentifiedImageError

from app.ingest.fetch import IngestError

HEAD = 8192


@dataclass(frozen=True)
class Inspected:
    """What an origin turned out to be."""

    media_type: str
    kind: str  # "image", "audio", "video" or "file"
    width: int | None = None
    height: int | None = None


def inspect(file: IO[bytes], max_pixels: int) -> Inspected:
    """Return the media type (and for images the size) of the bytes in ``file``."""
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size
                media_type = Image.MIME.get(image.format or "", f"image/{image.format}".lower())
        if width * height > max_pixels:
            raise IngestError(
                f"the image is {width}x{height} pixels, over the limit of {max_pixels} pixels"
            )
        return Inspected(media_type, "image", width, height)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise IngestError(f"the image is too large to process safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        unreadable: Exception | None = exc
    file.seek(0)
    guess = filetype.guess(file.read(HEAD))
    file.seek(0)
    if guess is None:
        return Inspected("application/octet-stream", "file")
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
