"""Responses: each in the representation the client asked for, and every error as one.

A resource is JSON-LD by default, or plain JSON, an RDF syntax (:mod:`app.web.rdf`) or the HTML
console (:mod:`app.web.console`) when asked; an error is a Hydra Error that is also an RFC 9457
problem, never a framework's HTML page.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from app.web import console, links
from app.web.errors import error_document, told, unexpected
from app.web.jsonld import (
    HTML,
    JSON,
    JSONLD,
    base_url,
    best_match,
    dumps,
    negotiate,
)
from vocab import dlcs

log = logging.getLogger(__name__)


def _json_type() -> str:
    return best_match(request.headers.get("Accept", ""), (JSONLD, JSON)) or JSONLD


def response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return ``doc`` in the representation the client asked for (JSON-LD by default)."""
    media_type = negotiate()
    if media_type in (JSONLD, JSON):
        return _send(dumps(doc), media_type, status, headers)
    if media_type == HTML:
        return _send(console.render(doc, status), "text/html", status, headers)
    from app.web import rdf  # (rdflib and pyld: loaded by the first request that needs them)

    return _send(rdf.serialize(doc, media_type), media_type, status, headers)


def error_response(doc: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    """Return an error body: JSON-LD (or plain JSON when that is preferred).

    A browser that asks for a page it may not see (401, ``Accept: text/html``) gets the
    console's page of the same Error instead, whose form takes a key and secret.
    """
    accept = request.headers.get("Accept", "")
    if status == 401 and best_match(accept, (JSONLD, JSON, HTML)) == HTML:
        return _send(console.render(doc, status), HTML, status, headers)
    return _send(dumps(doc), _json_type(), status, headers)


def raw_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return an already serialised JSON-LD document, negotiated like any other."""
    media_type = negotiate()
    if media_type in (JSONLD, JSON):
        return _send(body, media_type, status, headers)
    return response(json.loads(body), status, headers)


def context_response(body: bytes) -> Response:
    """Return a context document: JSON-LD (or JSON), which is all a context can be."""
    return _send(body, negotiate((JSONLD, JSON)), 200, None)


def json_response(body: bytes) -> Response:
    """Return a plain JSON document (the OpenAPI description)."""
    return _send(body, JSON, 200, None)


def _send(body: bytes, media_type: str, status: int, headers: dict[str, str] | None) -> Response:
    return current_app.response_class(body, status=status, headers=headers, mimetype=media_type)


def empty(status: int) -> Response:
    """Return a response with no body (204, 205)."""
    resp = current_app.response_class(status=status)
    del resp.headers["Content-Type"]
    return resp


def _not_allowed(allowed: list[str]) -> str:
    """Say which methods a resource allows, and how a member of a collection is created when
    it is created by PUT at its own IRI (an Image) rather than by POST to the collection."""
    path = request.path.rstrip("/")
    order = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"]
    ordered = sorted(allowed, key=lambda method: order.index(method) if method in order else 9)
    said = f"{request.method} is not allowed on {path}: it allows {', '.join(ordered)}."
    if request.method != "POST":
        return said
    for cls in dlcs.CLASSES:
        for prop in cls.collections:
            member = dlcs.get(prop.member) if prop.member else None
            if member is None or links.parse(base_url() + path, prop.path or "") is None:
                continue
            if any(op.method == "PUT" for op in member.operations):
                article = "An" if member.name[0] in "AEIOU" else "A"
                said += f" {article} {member.name} is created with PUT {path}/{{id}}."
            return said
    return said


def _handle_http(exc: HTTPException) -> Response:
    exc = told(exc)
    code = exc.code or 500
    description = exc.description or HTTPStatus(code).phrase
    valid = getattr(exc, "valid_methods", None)
    if code == 405 and valid and description == type(exc).description:  # (the framework's own)
        description = _not_allowed(list(valid))
    violations = getattr(exc, "violations", [])
    instance = base_url() + request.full_path.rstrip("?")
    doc = error_document(code, description, violations, base_url(), instance)
    response = error_response(doc, code)
    for name, value in getattr(exc, "extra_headers", {}).items():
        response.headers[name] = value
    if code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _handle_unexpected(exc: Exception) -> Response:
    error = unexpected(exc, current_app.config["STATEMENT_TIMEOUT"])
    if error.code == 500:
        log.exception("unhandled error on %s %s", request.method, request.path)
    else:
        log.warning("a statement of %s %s timed out", request.method, request.path)
    return _handle_http(error)


def init_app(app: Flask) -> None:
    """Send every error, the framework's own included, through one handler."""
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
