"""JSON-LD responses: the public base URL, precomputed contexts and documentation, headers.

Contexts and the API documentation are derived from the vocabulary once per public base
URL and kept as ready-to-send bytes, so no JSON-LD processing runs while serving a request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request

from vocab import CLASSES, api_documentation, context, context_url
from vocab.model import Class
from vocab.terms import HYDRA, VOCAB_PATH

JSONLD = "application/ld+json"
JSON = "application/json"
HYDRA_DOC_REL = str(HYDRA.apiDocumentation)

__all__ = ["JSONLD", "base_url", "context_url", "dumps", "response"]


def base_url() -> str:
    """Return the public base URL: configured, or the one the request was sent to."""
    base = g.get("base_url")
    if base is None:
        base = current_app.config.get("PUBLIC_BASE_URL") or request.url_root.rstrip("/")
        g.base_url = base
    return base


def dumps(doc: Any) -> bytes:
    """Serialise a document as compact UTF-8 JSON."""
    return orjson.dumps(doc)


HTML = "text/html"
RDF_TYPES = ("text/turtle", "application/n-triples", "application/rdf+xml")
OFFERED = (JSONLD, JSON, *RDF_TYPES, HTML)


def negotiate(offered: tuple[str, ...] = OFFERED) -> str:
    """Return the media type to answer with; 406 when the client accepts none on offer.

    JSON-LD is the default: for no Accept header, for ``*/*``, and on ties.
    """
    accept = request.accept_mimetypes
    if not accept:
        return JSONLD
    best = accept.best_match(offered)
    if best is None:
        from app.errors import ApiError

        raise ApiError(406, f"This resource is available as {', '.join(offered)}.")
    return best


def _json_type() -> str:
    return request.accept_mimetypes.best_match([JSONLD, JSON], default=JSONLD)


def response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return ``doc`` in the representation the client asked for (JSON-LD by default)."""
    media_type = negotiate()
    if media_type in (JSONLD, JSON):
        return _send(dumps(doc), media_type, status, headers)
    if media_type == HTML:
        from app import console

        return _send(console.render(doc, status), "text/html", status, headers)
    from app import rdf

    return _send(rdf.serialize(doc, media_type), media_type, status, headers)


def error_response(doc: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    """Return an error body: always JSON-LD (or plain JSON when that is preferred)."""
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
    resp = current_app.response_class(body, status=status, headers=headers)
    resp.mimetype = media_type
    return resp


def empty(status: int) -> Response:
    """Return a response with no body (204, 205)."""
    resp = current_app.response_class(status=status)
    del resp.headers["Content-Type"]
    return resp


@lru_cache(maxsize=64)
def context_bytes(name: str, base: str) -> bytes:
    """Return the serialised context of the class called ``name``, served from ``base``."""
    cls = next(c for c in CLASSES if c.name == name)
    return dumps(context(cls, base))


@lru_cache(maxsize=16)
def documentation_bytes(base: str) -> bytes:
    """Return the serialised ApiDocumentation served from ``base``."""
    return dumps(api_documentation(base))


@lru_cache(maxsize=16)
def openapi_bytes(base: str) -> bytes:
    """Return the serialised OpenAPI description served from ``base``."""
    from vocab.openapi import openapi

    return dumps(openapi(base))


def documentation_url(base: str) -> str:
    """Return the URL of the ApiDocumentation."""
    return f"{base}{VOCAB_PATH}"


def _add_headers(resp: Response) -> Response:
    base = base_url()
    resp.headers["Link"] = f'<{documentation_url(base)}>; rel="{HYDRA_DOC_REL}"'
    origins = current_app.config.get("CORS_ORIGINS", "*")
    origin = request.headers.get("Origin")
    if origins == "*":
        resp.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in {o.strip() for o in origins.split(",")}:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.vary.add("Origin")
    resp.headers["Access-Control-Expose-Headers"] = "Link, Location, ETag"
    resp.vary.add("Accept")
    if request.method == "OPTIONS":
        resp.headers["Access-Control-Allow-Methods"] = resp.headers.get(
            "Allow", "GET, HEAD, PUT, PATCH, DELETE, POST, OPTIONS"
        )
        resp.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, Accept, If-Match, If-None-Match, Prefer"
        )
        resp.headers["Access-Control-Max-Age"] = "600"
    return resp


def class_context_url(cls: Class) -> str:
    """Return the URL of the context of ``cls`` on this server."""
    return context_url(cls, base_url())


def init_app(app: Flask) -> None:
    """Add the API documentation link and CORS headers to every response."""
    app.after_request(_add_headers)
