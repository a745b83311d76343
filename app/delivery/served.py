"""What every delivery route shares: the image's registration, service URLs, HTTP headers.

Every response of delivery may be read from any origin (CORS ``*``, see app/__init__.py),
carries a strong ETag made from the image's registration and the request (so a re-ingested
image never matches an earlier tag), and says how long caches in front may keep it.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, request
from sqlalchemy import bindparam, select

from app.delivery.images import CONTEXTS
from app.storage.db import connection
from app.storage.files import Files
from app.storage.models import MAX_INTEGER, TABLES
from app.web import jsonld
from app.web.errors import ApiError

_NUMBER = f"digits(max={MAX_INTEGER})"
# The part of a delivery path that names an image.
IMAGE_ROOT = f"/<{_NUMBER}:customer>/<{_NUMBER}:space>/<image>"


def service_url(root: str, customer: int, space: int, image: str) -> str:
    """Return the URL of an image's service under ``root`` (``/iiif-img/v2``, ``/thumbs``)."""
    return f"{jsonld.base_url()}{root}/{customer}/{space}/{quote(image, safe='')}"


_IMAGES = TABLES["Image"]
# What serving an image needs of its row (built once: every tile asks).
_REGISTRATION = select(
    _IMAGES.c.ingest_generation,
    _IMAGES.c.ingesting,
    _IMAGES.c.error,
    _IMAGES.c.width,
    _IMAGES.c.media_type,
).where(*(_IMAGES.c[k] == bindparam(k) for k in ("customer", "space", "image")))


def registration(customer: int, space: int, image: str) -> tuple[dict[str, Any], int]:
    """Return the key of an image and its registration; 404 saying why it cannot be served."""
    keys = {"customer": customer, "space": space, "image": image}
    row = connection().execute(_REGISTRATION, keys).first()
    name = f"image {image} of space {space} of customer {customer}"
    if row is None:
        raise ApiError(404, f"There is no {name}.")
    if row.ingesting:
        raise ApiError(404, f"The {name} is being ingested; ask again once it is.")
    if row.error:
        raise ApiError(404, f"The ingest of the {name} failed: {row.error}")
    if row.width is None or not (row.media_type or "").startswith("image/"):
        raise ApiError(404, f"The {name} is not an image ({row.media_type or 'not ingested'}).")
    return keys, row.ingest_generation


def files() -> Files:
    """Return where derivatives are kept."""
    return current_app.extensions["dlcs.files"]


def json_ld_or_json(doc: dict[str, Any], version: int) -> Response:
    """Return an info.json: JSON-LD with the Image API's profile when asked for by name."""
    accepted = request.accept_mimetypes
    if accepted.quality(jsonld.JSONLD) > accepted.quality(jsonld.JSON):
        media_type = f'{jsonld.JSONLD};profile="{CONTEXTS[version]}"'
    else:
        media_type = jsonld.JSON
    return current_app.response_class(jsonld.dumps(doc), mimetype=media_type)


def cached(resp: Response, generation: int, *parts: Any) -> Response:
    """Give a response its ETag (from the registration and ``parts``) and Cache-Control."""
    digest = hashlib.blake2b(
        repr((generation, request.host_url, *parts)).encode(), digest_size=16
    ).hexdigest()
    resp.headers["ETag"] = f'"{digest}"'
    resp.headers["Cache-Control"] = f"public, max-age={int(current_app.config['DELIVERY_MAX_AGE'])}"
    return resp
