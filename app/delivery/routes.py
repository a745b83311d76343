"""The IIIF Image API routes, at the real DLCS's paths: ``/iiif-img/{c}/{s}/{id}/...``.

Image API 3.0 by default and under ``/iiif-img/v3/``, 2.1 under ``/iiif-img/v2/``; the
thumbnail service (``app.delivery.thumbs``) beside them, in one blueprint.
"""

from __future__ import annotations

import contextlib
import ctypes

import pyvips
from flask import Blueprint, Flask, Response, current_app, redirect
from werkzeug.wrappers import Response as Redirect

from app.delivery import iiif, thumbs
from app.delivery.images import Pyramid, info, render
from app.delivery.served import (
    IMAGE_ROOT,
    cached,
    files,
    json_ld_or_json,
    registration,
    service_url,
)
from app.ingest.derivatives import pyramid_key
from app.web.errors import ApiError

PREFIXES = {"": 3, "/v3": 3, "/v2": 2}


def _pyramid(customer: int, space: int, image: str) -> tuple[Pyramid, int]:
    """Return the pyramid of an image and its registration; 404 saying why there is none."""
    keys, generation = registration(customer, space, image)
    path = files().local(pyramid_key(keys, generation))
    if path is None:
        name = f"image {image} of space {space} of customer {customer}"
        raise ApiError(404, f"The {name} has no pyramid yet: ingest it again (reingest).")
    return Pyramid.open(path), generation


def _limits() -> iiif.Limits:
    cfg = current_app.config
    side = int(cfg["IIIF_MAX_WIDTH"])
    return iiif.Limits(max_width=side, max_height=side, max_area=int(cfg["IIIF_MAX_AREA"]))


def _version(prefix: str) -> int:
    return PREFIXES[prefix]


def service(prefix: str, customer: int, space: int, image: str) -> Redirect:
    """Send a client from an image's service URL to its info.json (303)."""
    return redirect(service_url(f"/iiif-img{prefix}", customer, space, image) + "/info.json", 303)


def info_json(prefix: str, customer: int, space: int, image: str) -> Response:
    """Answer with an image's info.json (JSON-LD with the profile when asked for)."""
    version = _version(prefix)
    pyramid, generation = _pyramid(customer, space, image)
    doc = info(
        version, service_url(f"/iiif-img{prefix}", customer, space, image), pyramid, _limits()
    )
    resp = json_ld_or_json(doc, version)
    return cached(resp, generation, version, resp.mimetype)


def image_request(
    prefix: str, customer: int, space: int, image: str, region: str, size: str, rotation: str,
    quality_format: str,
) -> Response:  # fmt: skip
    """Answer an image request: a region of the image, scaled, turned, toned, encoded."""
    version = _version(prefix)
    pyramid, generation = _pyramid(customer, space, image)
    try:
        asked = iiif.parse(
            version, region, size, rotation, quality_format, pyramid.width, pyramid.height,
            _limits(),
        )  # fmt: skip
    except iiif.IIIFError as exc:
        raise ApiError(exc.status, exc.message, violations=[(exc.part, exc.message)]) from None
    resp = current_app.response_class(render(pyramid, asked), mimetype=asked.media_type)
    service = service_url(f"/iiif-img{prefix}", customer, space, image)
    canonical = f"{service}/{canonical_path(version, asked, pyramid)}"
    resp.headers.add("Link", f'<{canonical}>;rel="canonical"')
    return cached(resp, generation, canonical)


def canonical_path(version: int, asked: iiif.ImageRequest, pyramid: Pyramid) -> str:
    """Return the canonical form of a request: the same pixels asked for one way only."""
    x, y, w, h = asked.region
    whole = asked.region == (0, 0, pyramid.width, pyramid.height)
    region = "full" if whole else f"{x},{y},{w},{h}"
    tw, th = asked.size
    if version == 3:
        size = f"{tw},{th}"
    elif (tw, th) == (w, h):
        size = "full"  # (2.1: the region at its own size)
    else:
        size = f"{tw},"
    degrees = f"{asked.rotation:g}"
    rotation = f"!{degrees}" if asked.mirror else degrees
    return f"{region}/{size}/{rotation}/{asked.quality}.{asked.format}"


def routes() -> Blueprint:
    """Return the blueprint of delivery: the Image API for every version prefix, thumbnails."""
    blueprint = Blueprint("delivery", __name__)
    for prefix in PREFIXES:
        path = f"/iiif-img{prefix}{IMAGE_ROOT}"
        name = prefix.strip("/") or "default"
        defaults = {"prefix": prefix}
        blueprint.add_url_rule(path, f"service_{name}", service, defaults=defaults)
        blueprint.add_url_rule(f"{path}/info.json", f"info_{name}", info_json, defaults=defaults)
        blueprint.add_url_rule(
            f"{path}/<region>/<size>/<rotation>/<quality_format>",
            f"image_{name}",
            image_request,
            defaults=defaults,
        )
    thumbs.register(blueprint)
    return blueprint


_M_ARENA_MAX = -8  # (glibc's mallopt parameter)


def init_app(app: Flask) -> None:
    """Register the delivery routes, and keep what image work holds in memory bounded.

    libvips's cache of recent operations kept what they had decoded beyond its own memory
    limit (a worker grew by 50 MB every thousand non-aligned regions), and a viewer seldom
    asks for one region twice: it is off. glibc gives each thread that allocates a heap of its
    own, up to 8 per core, which image buffers of 8 threads left fragmented: two heaps a
    process. (bench/delivery.py: workers went from 118 MB to 170-276 MB before, see
    bench/RESULTS.md for after.)
    """
    pyvips.cache_set_max(0)
    with contextlib.suppress(OSError):  # (not glibc: nothing to bound)
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)
    app.register_blueprint(routes())
