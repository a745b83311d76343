"""The IIIF Image API routes, at the real DLCS's paths: ``/iiif-img/{c}/{s}/{id}/...``.

Image API 3.0 by default and under ``/iiif-img/v3/``, 2.1 under ``/iiif-img/v2/``; the
thumbnail service (``app.delivery.thumbs``) beside them, answered by
:class:`app.delivery.served.Delivery` in front of the Flask app.
"""

from __future__ import annotations

import contextlib
import ctypes

import pyvips
from flask import Flask

from app.delivery import auth, iiif, manifests, media, thumbs
from app.delivery.images import Pyramid, info, open_pyramid, render
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
from app.web.errors import ApiError

VERSIONS = {"v3": 3, "v2": 2}


def route(delivery: Delivery, asked: Asked) -> Reply:
    """Answer a request to delivery: the Image API of each version, the thumbnails, IIIF Auth
    2, the manifests, or audio, video and files."""
    root, rest = asked.segments[0], asked.segments[1:]
    if root == "thumbs":
        return thumbs.route(delivery, asked, rest)
    if root == "auth":
        return auth.route(delivery, asked, rest)
    if root in ("iiif-resource", "iiif-manifest"):
        return manifests.route(delivery, asked, rest, single=root == "iiif-manifest")
    if root in ("iiif-av", "file"):
        return media.route(delivery, asked, rest, file=root == "file")
    prefix, version = "", 3
    if rest and rest[0] in VERSIONS:
        prefix, version, rest = f"/{rest[0]}", VERSIONS[rest[0]], rest[1:]
    image, rest = image_key(rest[:3]), rest[3:]
    service = image.service(asked, f"/iiif-img{prefix}")
    if not rest:
        return redirect(f"{service}/info.json")
    if rest == ["info.json"]:
        return info_json(delivery, asked, version, image, service)
    if len(rest) == 4:
        return image_request(delivery, asked, version, image, service, *rest)
    raise ApiError(404, "Image API paths end in /info.json or /{region}/{size}/{rotation}/"
                   "{quality}.{format}.")  # fmt: skip


def _pyramid(delivery: Delivery, image: ImageKey) -> tuple[Pyramid, Registration]:
    """Return the pyramid of an image and its registration; 404 saying why there is none."""
    registration = delivery.registration(image)
    keys = (image.customer, image.space, image.image)
    pyramid = open_pyramid(delivery.files, keys, registration.generation)
    if pyramid is None:
        raise ApiError(404, f"The {image.name()} has no pyramid yet: ingest it again (reingest).")
    return pyramid, registration


def info_json(
    delivery: Delivery, asked: Asked, version: int, image: ImageKey, service: str
) -> Reply:
    """Answer with an image's info.json (JSON-LD with the profile when asked for).

    For an image with roles and a caller whose session holds none of them, it describes what
    is open: sizes, tiles and the largest size within ``maxUnauthorised``.
    """
    pyramid, registration = _pyramid(delivery, image)
    rule = registration.rule
    if delivery.sees_all(image, rule, asked):
        doc, seen = info(version, service, pyramid, delivery.limits()), "all"
    else:
        doc, seen = info(version, service, pyramid, delivery.limits(), rule.largest_open()), "open"
    if rule.restricted and version == 3:  # (IIIF Auth 2 is for Image API 3)
        doc["@context"] = [auth.CONTEXT, doc["@context"]]
        doc["service"] = [auth.services(delivery, asked, image, rule.roles)]
    return info_reply(doc, asked, version, registration, "info", seen)


def image_request(
    delivery: Delivery, asked: Asked, version: int, image: ImageKey, service: str, region: str,
    size: str, rotation: str, quality_format: str,
) -> Reply:  # fmt: skip
    """Answer an image request: a region of the image, scaled, turned, toned, encoded."""
    pyramid, registration = _pyramid(delivery, image)
    try:
        wanted = iiif.parse(
            version, region, size, rotation, quality_format, pyramid.width, pyramid.height,
            delivery.limits(),
        )  # fmt: skip
    except iiif.IIIFError as exc:
        raise ApiError(exc.status, exc.message, violations=[(exc.part, exc.message)]) from None
    rule = registration.rule
    whole = wanted.region == (0, 0, pyramid.width, pyramid.height)
    if not rule.opens(whole, max(wanted.size)):
        delivery.allow(image, rule, asked)
    canonical = f"{service}/{canonical_path(version, wanted, pyramid)}"
    link = ("Link", f'<{canonical}>;rel="canonical"')
    body = render(pyramid, wanted)
    tag = (registration.generation, canonical)
    return Reply(body, wanted.media_type, tag=tag, headers=[link], private=rule.restricted)


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


_M_ARENA_MAX = -8  # (glibc's mallopt parameter)


def init_app(app: Flask) -> None:
    """Answer delivery's paths in front of the app, and keep what image work holds in memory
    bounded.

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
    app.wsgi_app = Delivery(app, route)  # type: ignore[method-assign]
