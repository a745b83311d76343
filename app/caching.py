"""HTTP validators: a strong ETag on every GET, 304 for If-None-Match, 412 for stale If-Match.

An ETag is a hash of the representation's bytes and media type, so each representation of a
resource (JSON-LD, Turtle, ...) has its own. A write with If-Match is checked against the
ETags of the resource's current JSON representations, as read for the write: on a row locked
for it, or (a PUT's first try on PostgreSQL) on a row the write then finds still the version
it read, or else reads again, locked. Of two writers holding the same ETag, one wins and the
other gets 412.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, Response, request

from app.errors import ApiError


def etag_for(body: bytes, media_type: str) -> str:
    """Return the strong entity tag of a representation."""
    digest = hashlib.blake2b(media_type.encode() + b"\0" + body, digest_size=16).hexdigest()
    return f'"{digest}"'


def _conditional_get(resp: Response) -> Response:
    if request.method not in ("GET", "HEAD") or resp.status_code != 200 or resp.direct_passthrough:
        return resp
    tag = resp.headers.get("ETag")  # (a response sent again has its tag already)
    if tag is None:
        tag = etag_for(resp.get_data(), resp.mimetype or "")
        resp.headers["ETag"] = tag
    if "HTTP_IF_NONE_MATCH" not in request.environ:
        return resp
    wanted = request.if_none_match
    if wanted and (wanted.star_tag or wanted.contains_weak(tag.strip('"'))):
        resp.status_code = 304
        resp.set_data(b"")
        del resp.headers["Content-Type"]
    return resp


def has_preconditions() -> bool:
    """Whether the request has an If-Match or If-None-Match header (without parsing either)."""
    environ = request.environ
    return "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ


def check_write(current_document: dict[str, Any] | None) -> None:
    """Fail with 412 when the write's If-Match or If-None-Match does not hold."""
    from app import jsonld

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
    current = {etag_for(body, t).strip('"') for t in (jsonld.JSONLD, jsonld.JSON)}
    if not any(if_match.contains(tag) for tag in current):
        raise ApiError(
            412, "The resource has changed since that ETag was issued; GET it again and retry."
        )


def init_app(app: Flask) -> None:
    """Tag every successful GET, and answer 304 when the client has that representation."""
    app.after_request(_conditional_get)
