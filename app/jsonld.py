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
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.sansio.utils import get_current_url

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
        base = current_app.config.get("PUBLIC_BASE_URL") or _root_url(
            request.scheme, request.host, request.root_path
        )
        g.base_url = base
    return base


@lru_cache(maxsize=64)
def _root_url(scheme: str, host: str, root_path: str) -> str:
    # Werkzeug's request.url_root, without its trailing slash; a server answers to a
    # handful of hosts, so each is worked out once.
    return get_current_url(scheme, host, root_path).rstrip("/")


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
    best = best_match(request.headers.get("Accept", ""), offered)
    if best is None:
        from app.errors import ApiError

        raise ApiError(406, f"This resource is available as {', '.join(offered)}.")
    return best


@lru_cache(maxsize=256)
def best_match(accept: str, offered: tuple[str, ...] = OFFERED) -> str | None:
    """Return the offered type an Accept header prefers (JSON-LD when it states nothing).

    Clients send a few distinct Accept headers over and over, so each is parsed once.
    """
    parsed = parse_accept_header(accept, MIMEAccept)
    if not parsed:
        return JSONLD
    return parsed.best_match(offered)


def _json_type() -> str:
    return best_match(request.headers.get("Accept", ""), (JSONLD, JSON)) or JSONLD


def needs_normalising(body: Any, cls: Class) -> bool:
    """Whether a body is not compact JSON in this API's terms (with or without its context).

    Such a body (expanded, or compact with another context) goes through :mod:`app.rdf`; a
    compact one is read as it is, without loading pyld.
    """
    if not isinstance(body, dict):
        return isinstance(body, list)
    context = body.get("@context")
    if context is not None and context != class_context_url(cls):
        return True
    return any(":" in key for key in body if not key.startswith("@"))


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
    """Return an error body: JSON-LD (or plain JSON when that is preferred).

    A browser that asks for a page it may not see (401, ``Accept: text/html``) gets the
    console's page of the same Error instead, whose form takes a key and secret.
    """
    accept = request.headers.get("Accept", "")
    if status == 401 and best_match(accept, (JSONLD, JSON, HTML)) == HTML:
        from app import console

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


@lru_cache(maxsize=16)
def _link_header(base: str) -> str:
    return f'<{documentation_url(base)}>; rel="{HYDRA_DOC_REL}"'


def _add_headers(resp: Response) -> Response:
    resp.headers.add("Link", _link_header(base_url()))
    resp.vary.add("Accept")
    return resp


def class_context_url(cls: Class) -> str:
    """Return the URL of the context of ``cls`` on this server."""
    return context_url(cls, base_url())


def init_app(app: Flask) -> None:
    """Add the API documentation link to every response, and Vary: Accept."""
    app.after_request(_add_headers)
