"""HTTP caching: a strong ETag and Cache-Control on every GET, 304s, 412 for a stale If-Match.

Responses are not kept in this server: caches in front of it (a CDN, Varnish, nginx) and
browsers keep them, as ``Cache-Control`` allows. A response made without looking at who asks
(the API documentation, contexts) may be kept by anyone for ``DLCS_PUBLIC_MAX_AGE``; one that
looked (every resource of a customer, the entry point) only by the caller's own browser, for
``DLCS_API_MAX_AGE`` (0: it asks again each time, and gets 304 while its ETag still holds).

An ETag is a hash of the representation's bytes and media type, so each representation of a
resource (JSON-LD, Turtle, ...) has its own. A write with If-Match is checked against the
ETags of the resource's current JSON representations, as read (locked) for the write: of two
writers holding the same ETag, one wins and the other gets 412.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, Response, current_app, g, request

from app.web import jsonld
from app.web.errors import ApiError


def etag_for(body: bytes, media_type: str) -> str:
    """Return the strong entity tag of a representation (without its quotes)."""
    return hashlib.blake2b(media_type.encode() + b"\0" + body, digest_size=16).hexdigest()


def cache_control() -> str:
    """Return the Cache-Control of a successful GET of the API."""
    config = current_app.config
    if "caller" not in g:  # (auth.caller() was never asked: the same for everyone)
        return f"public, max-age={int(config['PUBLIC_MAX_AGE'])}"
    seconds = int(config["API_MAX_AGE"])
    return f"private, max-age={seconds}" if seconds > 0 else "private, no-cache"


def _conditional_get(resp: Response) -> Response:
    if request.method not in ("GET", "HEAD") or resp.status_code != 200:
        return resp
    if "ETag" not in resp.headers and not resp.direct_passthrough:
        resp.set_etag(etag_for(resp.get_data(), resp.mimetype or ""))
    if "Cache-Control" not in resp.headers:
        resp.headers["Cache-Control"] = cache_control()
    resp.make_conditional(request)  # (304 when If-None-Match names its ETag)
    # (It adds a Date, and so do WSGI servers: werkzeug's then sent two.)
    resp.headers.pop("Date", None)
    return resp


def has_preconditions() -> bool:
    """Whether the request has an If-Match or If-None-Match header (without parsing either)."""
    environ = request.environ
    return "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ


def check_write(current_document: dict[str, Any] | None) -> None:
    """Fail with 412 when the write's If-Match or If-None-Match does not hold."""
    if not has_preconditions():
        return
    if_match, if_none_match = request.if_match, request.if_none_match
    if if_none_match.star_tag and current_document is not None:
        raise ApiError(412, "The resource exists already (If-None-Match: *).")
    if not if_match:
        return
    if current_document is None:
        raise ApiError(412, "The resource does not exist, so no If-Match can hold.")
    if if_match.star_tag:
        return
    body = jsonld.dumps(current_document)
    current = {etag_for(body, t) for t in (jsonld.JSONLD, jsonld.JSON)}
    if not any(if_match.contains(tag) for tag in current):
        raise ApiError(
            412, "The resource has changed since that ETag was issued; GET it again and retry."
        )


def init_app(app: Flask) -> None:
    """Tag every successful GET, say how long it may be kept, answer 304 when it is still kept."""
    app.after_request(_conditional_get)
