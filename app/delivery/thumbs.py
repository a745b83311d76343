"""The thumbnail service, at the real DLCS's path ``/thumbs/{c}/{s}/{id}``: IIIF Image API 3.0
level 0, whose sizes are the thumbnails ingest made, sent as they are stored.

A size may be spelled any way the Image API allows (``max``, ``w,``, ``,h``, ``w,h``,
``!w,h``); a size that was not made is sent on (303) to the same request of the image's Image
API service, which makes any size.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect
from werkzeug.wrappers import Response as Redirect

from app.delivery import iiif
from app.delivery.images import CONTEXTS, PROTOCOL
from app.delivery.served import (
    IMAGE_ROOT,
    cached,
    files,
    json_ld_or_json,
    registration,
    service_url,
)
from app.ingest.derivatives import thumbnail_key, thumbnail_sizes
from app.web.errors import ApiError

THUMBS_PATH = "/thumbs" + IMAGE_ROOT

# A thumbnail is the image at a size, so any number is as good as any other for the limits.
_UNLIMITED = iiif.Limits(max_width=10**9, max_height=10**9, max_area=10**18)


def _made(customer: int, space: int, image: str) -> tuple[dict[str, Any], int, list[list[int]]]:
    keys, generation = registration(customer, space, image)
    sizes = thumbnail_sizes(files(), keys, generation)
    if not sizes:
        name = f"image {image} of space {space} of customer {customer}"
        raise ApiError(404, f"The {name} has no thumbnails: ingest it again (reingest).")
    return keys, generation, sizes


def thumbs_service(customer: int, space: int, image: str) -> Redirect:
    """Send a client from the thumbnail service's URL to its info.json (303)."""
    return redirect(service_url("/thumbs", customer, space, image) + "/info.json", 303)


def thumbs_info(customer: int, space: int, image: str) -> Response:
    """Answer with the thumbnail service's info.json: level 0, its sizes those made."""
    _keys, generation, sizes = _made(customer, space, image)
    width, height = sizes[0]
    doc = {
        "@context": CONTEXTS[3],
        "id": service_url("/thumbs", customer, space, image),
        "type": "ImageService3",
        "protocol": PROTOCOL,
        "profile": "level0",
        "width": width,
        "height": height,
        "sizes": [{"width": w, "height": h} for w, h in reversed(sizes)],
    }
    resp = json_ld_or_json(doc, 3)
    return cached(resp, generation, "thumbs", resp.mimetype)


def thumbnail(
    customer: int, space: int, image: str, size: str, rotation: str
) -> Response | Redirect:
    """Send a thumbnail that was made, as stored; a size that was not goes to the image API."""
    keys, generation, sizes = _made(customer, space, image)
    width, height = sizes[0]
    try:
        asked = iiif.parse_size(3, size, width, height, _UNLIMITED)
        mirror, degrees = iiif.parse_rotation(rotation)
    except iiif.IIIFError as exc:
        raise ApiError(exc.status, exc.message, violations=[(exc.part, exc.message)]) from None
    # (Made sizes are rounded by the scaler: a size within a pixel of one is that one.)
    found = next(
        ((w, h) for w, h in sizes if abs(w - asked[0]) <= 1 and abs(h - asked[1]) <= 1), None
    )
    if found is None or mirror or degrees:
        elsewhere = service_url("/iiif-img", customer, space, image)
        return redirect(f"{elsewhere}/full/{size}/{rotation}/default.jpg", 303)
    data = files().read(thumbnail_key(keys, generation, max(found)))
    if data is None:
        raise ApiError(404, f"The thumbnail {found[0]},{found[1]} of image {image} is missing.")
    resp = current_app.response_class(data, mimetype="image/jpeg")
    return cached(resp, generation, "thumbs", found)


def register(blueprint: Blueprint) -> None:
    """Add the thumbnail service's routes to delivery's blueprint."""
    blueprint.add_url_rule(THUMBS_PATH, "thumbs_service", thumbs_service)
    blueprint.add_url_rule(f"{THUMBS_PATH}/info.json", "thumbs_info", thumbs_info)
    blueprint.add_url_rule(
        f"{THUMBS_PATH}/full/<size>/<rotation>/default.jpg", "thumbnail", thumbnail
    )
