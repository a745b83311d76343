"""JSON-LD: the public base URL, negotiation, precomputed contexts and documentation, headers.

Contexts and the API documentation are derived from the vocabulary once per public base
URL and kept as ready-to-send bytes, so no JSON-LD processing runs while serving a request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import NotAcceptable, SecurityError
from werkzeug.http import parse_accept_header
from werkzeug.sansio.utils import get_current_url

from vocab import CLASSES, api_documentation, context, context_url
from vocab.model import Class
from vocab.openapi import openapi
from vocab.terms import HYDRA, VOCAB_PATH

JSONLD = "application/ld+json"
JSON = "application/json"
HYDRA_DOC_REL = str(HYDRA.apiDocumentation)

__all__ = ["JSONLD", "base_url", "context_url", "dumps"]


def base_url() -> str:
    """Return the public base URL: configured, or the one the request was sent to (where its
    Host is one of DLCS_TRUSTED_HOSTS; else the first of those, for the 400 saying so)."""
    base = g.get("base_url")
    if base is None:
        base = current_app.config.get("PUBLIC_BASE_URL")
        if not base:
            try:
                base = root_url(request.scheme, request.host, request.root_path)
            except SecurityError:
                base = untrusted_base(request.scheme, current_app.config, request.root_path)
        g.base_url = base
    return base


def untrusted_base(scheme: str, config: Any, root_path: str) -> str:
    """Return the base URL of the answer to a request whose Host is not trusted: the first
    trusted host's (the 400 names no host it was sent)."""
    return root_url(scheme, (config["TRUSTED_HOSTS"] or ["localhost"])[0], root_path)


@lru_cache(maxsize=64)
def root_url(scheme: str, host: str, root_path: str) -> str:
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
        raise NotAcceptable(f"This resource is available as {', '.join(offered)}.")
    return best


def accepted(accept: str) -> MIMEAccept:
    """Return the media types an Accept header names, with their qualities, each without its
    parameters: ``application/ld+json;profile="..."`` (as the IIIF Image API and JSON-LD
    clients send it) asks for JSON-LD, which werkzeug, comparing parameters too, matched with
    nothing this server offers."""
    parsed = parse_accept_header(accept, MIMEAccept)
    return MIMEAccept([(value.split(";", 1)[0].strip(), quality) for value, quality in parsed])


@lru_cache(maxsize=256)
def best_match(accept: str, offered: tuple[str, ...] = OFFERED) -> str | None:
    """Return the offered type an Accept header prefers (JSON-LD when it states nothing).

    Clients send a few distinct Accept headers over and over, so each is parsed once.
    """
    parsed = accepted(accept)
    if not parsed:
        return JSONLD
    return parsed.best_match(offered)


def needs_normalising(body: Any, cls: Class) -> bool:
    """Whether a body is not compact JSON in this API's terms (with or without its context).

    Such a body (expanded, or compact with another context) goes through :mod:`app.web.rdf`; a
    compact one is read as it is, without loading pyld.
    """
    if not isinstance(body, dict):
        return isinstance(body, list)
    context = body.get("@context")
    if context is not None and context != class_context_url(cls):
        return True
    return any(":" in key for key in body if not key.startswith("@"))


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
    return dumps(openapi(base))


def documentation_url(base: str) -> str:
    """Return the URL of the ApiDocumentation."""
    return f"{base}{VOCAB_PATH}"


@lru_cache(maxsize=16)
def documentation_link(base: str) -> str:
    """Return the ``Link`` header that names the ApiDocumentation, as every error carries."""
    return f'<{documentation_url(base)}>; rel="{HYDRA_DOC_REL}"'


def _add_headers(resp: Response) -> Response:
    resp.headers.add("Link", documentation_link(base_url()))
    resp.vary.add("Accept")
    return resp


def class_context_url(cls: Class) -> str:
    """Return the URL of the context of ``cls`` on this server."""
    return context_url(cls, base_url())


def init_app(app: Flask) -> None:
    """Add the API documentation link to every response, and Vary: Accept."""
    app.after_request(_add_headers)
