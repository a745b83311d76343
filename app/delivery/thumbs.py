"""The thumbnail service, at the real DLCS's path ``/thumbs/{c}/{s}/{id}``: IIIF Image API 3.0
level 0, whose sizes are the thumbnails ingest made, sent as they are stored.

A size may be spelled any way the Image API allows (``max``, ``w,``, ``,h``, ``w,h``,
``!w,h``); a size that was not made is sent on (303) to the same request of the image's Image
API service, which makes any size.
"""

from __future__ import annotations

import functools

from app.delivery import auth, iiif
from app.delivery.images import CONTEXTS, PROTOCOL
from app.delivery.served import (
    Asked,
    Delivery,
    ImageKey,
    Registration,
    Reply,
    image_key,
    info_reply,
    redirect,
)
from app.ingest.derivatives import thumbnail_key, thumbnail_sizes
from app.storage.files import Files
from app.web.errors import ApiError

# A thumbnail is the image at a size, so any number is as good as any other for the limits.
_UNLIMITED = iiif.Limits(max_width=10**9, max_height=10**9, max_area=10**18)


def route(delivery: Delivery, asked: Asked, segments: list[str]) -> Reply:
    """Answer a request to the thumbnail service (``segments``: its path below ``/thumbs``)."""
    image, rest = image_key(segments[:3]), segments[3:]
    service = image.service(asked, "/thumbs")
    if not rest:
        return redirect(f"{service}/info.json")
    if rest == ["info.json"]:
        return thumbs_info(delivery, asked, image, service)
    if len(rest) == 4 and rest[0] == "full" and rest[3] == "default.jpg":
        return thumbnail(delivery, asked, image, rest[1], rest[2])
    raise ApiError(404, "Thumbnail paths end in /info.json or /full/{size}/{rotation}/default.jpg.")


@functools.lru_cache(maxsize=1024)
def made_sizes(files: Files, image: ImageKey, generation: int) -> list[list[int]]:
    """Return the width and height of each thumbnail made for a registration, largest first.

    Kept for the registration, as its pyramid's index is (:func:`app.delivery.images.
    open_pyramid`): what was made for one never changes. Reading them anew was a fifth of
    the time of a thumbnail request.
    """
    return thumbnail_sizes(files, image.keys(), generation)


def _made(delivery: Delivery, image: ImageKey) -> tuple[Registration, list[list[int]]]:
    registration = delivery.registration(image)
    sizes = made_sizes(delivery.files, image, registration.generation)
    if not sizes:
        raise ApiError(404, f"The {image.name()} has no thumbnails: ingest it again (reingest).")
    return registration, sizes


def thumbs_info(delivery: Delivery, asked: Asked, image: ImageKey, service: str) -> Reply:
    """Answer with the thumbnail service's info.json: level 0, its sizes those made (of an
    image with roles, for a caller whose session holds none, those within maxUnauthorised)."""
    registration, sizes = _made(delivery, image)
    width, height = sizes[0]
    rule, seen = registration.rule, "all"
    if not delivery.sees_all(image, rule, asked):
        sizes, seen = [s for s in sizes if max(s) <= rule.largest_open()], "open"
    doc = {
        "@context": CONTEXTS[3],
        "id": service,
        "type": "ImageService3",
        "protocol": PROTOCOL,
        "profile": "level0",
        "width": width,
        "height": height,
        "sizes": [{"width": w, "height": h} for w, h in reversed(sizes)],
    }
    if rule.restricted:
        doc["@context"] = [auth.CONTEXT, doc["@context"]]
        doc["service"] = [auth.services(delivery, asked, image, rule.roles)]
    return info_reply(doc, asked, 3, registration, "thumbs", seen)


def thumbnail(delivery: Delivery, asked: Asked, image: ImageKey, size: str, rotation: str) -> Reply:
    """Send a thumbnail that was made, as stored; a size that was not goes to the image API."""
    registration, sizes = _made(delivery, image)
    width, height = sizes[0]
    try:
        wanted = iiif.parse_size(3, size, width, height, _UNLIMITED)
        mirror, degrees = iiif.parse_rotation(rotation)
    except iiif.IIIFError as exc:
        raise ApiError(exc.status, exc.message, violations=[(exc.part, exc.message)]) from None
    # (Made sizes are rounded by the scaler: a size within a pixel of one is that one.)
    found = next(
        ((w, h) for w, h in sizes if abs(w - wanted[0]) <= 1 and abs(h - wanted[1]) <= 1), None
    )
    if found is None or mirror or degrees:
        elsewhere = image.service(asked, "/iiif-img")
        return redirect(f"{elsewhere}/full/{size}/{rotation}/default.jpg")
    rule = registration.rule
    if not rule.opens(True, max(found)):
        delivery.allow(image, rule, asked)
    data = delivery.files.read(thumbnail_key(image.keys(), registration.generation, max(found)))
    if data is None:
        raise ApiError(404, f"The thumbnail {found[0]},{found[1]} of {image.name()} is missing.")
    tag = (registration.generation, "thumbs", *found)
    return Reply(data, "image/jpeg", tag=tag, private=rule.restricted)
