"""The IIIF Image API routes, at the real DLCS's paths: ``/iiif-img/{c}/{s}/{id}/...``.

Image API 3.0 by default and under ``/iiif-img/v3/``, 2.1 under ``/iiif-img/v2/``. Every
response may be read from any origin (CORS ``*``), carries a strong ETag made from the
image's registration and the request (so a re-ingested image never matches an earlier
tag), and says how long caches in front may keep it.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, redirect, request
from sqlalchemy import select

from app import jsonld
from app.db import connection
from app.delivery import iiif
from app.delivery.images import CONTEXTS, Pyramid, info, render
from app.errors import ApiError
from app.ingest.derivatives import pyramid_path
from app.ingest.queue import settings_of
from app.models import MAX_INTEGER, TABLES
from app.store import store

PREFIXES = {"": 3, "/v3": 3, "/v2": 2}
_NUMBER = f"digits(max={MAX_INTEGER})"
IMAGE_PATH = f"/iiif-img{{prefix}}/<{_NUMBER}:customer>/<{_NUMBER}:space>/<image>"


def _base(version_prefix: str, customer: int, space: int, image: str) -> str:
    return (
        f"{jsonld.base_url()}/iiif-img{version_prefix}/{customer}/{space}/{quote(image, safe='')}"
    )


def _pyramid(customer: int, space: int, image: str) -> tuple[Pyramid, int]:
    """Return the pyramid of an image and its registration; 404 saying why there is none."""
    keys = {"customer": customer, "space": space, "image": image}
    images = TABLES["Image"]
    row = (
        connection()
        .execute(
            select(
                images.c.ingest_generation,
                images.c.ingesting,
                images.c.error,
                images.c.width,
                images.c.media_type,
            ).where(store("Image").match(keys))
        )
        .first()
    )
    name = f"image {image} of space {space} of customer {customer}"
    if row is None:
        raise ApiError(404, f"There is no {name}.")
    if row.ingesting:
        raise ApiError(404, f"The {name} is being ingested; ask again once it is.")
    if row.error:
        raise ApiError(404, f"The ingest of the {name} failed: {row.error}")
    if row.width is None or not (row.media_type or "").startswith("image/"):
        raise ApiError(404, f"The {name} is not an image ({row.media_type or 'not ingested'}).")
    path = pyramid_path(settings_of(current_app).storage, keys, row.ingest_generation)
    if not path.is_file():
        raise ApiError(404, f"The {name} has no pyramid yet: ingest it again (reingest).")
    return Pyramid.open(path), row.ingest_generation


def _limits() -> iiif.Limits:
    cfg = current_app.config
    side = int(cfg["IIIF_MAX_WIDTH"])
    return iiif.Limits(max_width=side, max_height=side, max_area=int(cfg["IIIF_MAX_AREA"]))


def _cached(resp: Response, generation: int, *parts: Any) -> Response:
    digest = hashlib.blake2b(repr((generation, *parts)).encode(), digest_size=16).hexdigest()
    resp.headers["ETag"] = f'"{digest}"'
    resp.headers["Cache-Control"] = f"public, max-age={int(current_app.config['DELIVERY_MAX_AGE'])}"
    return resp


def _version(prefix: str) -> int:
    return PREFIXES[prefix]


def service(prefix: str, customer: int, space: int, image: str) -> Response:
    """Send a client from an image's service URL to its info.json (303)."""
    return redirect(_base(prefix, customer, space, image) + "/info.json", 303)


def info_json(prefix: str, customer: int, space: int, image: str) -> Response:
    """Answer with an image's info.json (JSON-LD with the profile when asked for)."""
    version = _version(prefix)
    pyramid, generation = _pyramid(customer, space, image)
    doc = info(version, _base(prefix, customer, space, image), pyramid, _limits())
    accepted = request.accept_mimetypes  # (JSON unless JSON-LD is asked for by name)
    if accepted.quality(jsonld.JSONLD) > accepted.quality(jsonld.JSON):
        media_type = f'{jsonld.JSONLD};profile="{CONTEXTS[version]}"'
    else:
        media_type = jsonld.JSON
    resp = current_app.response_class(jsonld.dumps(doc), mimetype=media_type)
    return _cached(resp, generation, version, media_type, request.host_url)


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
    canonical = (
        _base(prefix, customer, space, image) + "/" + canonical_path(version, asked, pyramid)
    )
    resp.headers.add("Link", f'<{canonical}>;rel="canonical"')
    return _cached(resp, generation, canonical)


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


def _open_to_all(resp: Response) -> Response:
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


def routes() -> Blueprint:
    """Return the blueprint of the Image API routes, for every version prefix."""
    blueprint = Blueprint("iiif_image", __name__)
    for prefix in PREFIXES:
        path = IMAGE_PATH.format(prefix=prefix)
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
    blueprint.after_request(_open_to_all)
    return blueprint


def init_app(app: Flask) -> None:
    """Register the Image API routes."""
    app.register_blueprint(routes())
