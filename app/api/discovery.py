"""Discovery: the entry point, the API documentation and the JSON-LD contexts (anonymous)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.resources import dump
from app.web import jsonld, responses
from app.web.auth import caller
from app.web.errors import ApiError
from vocab import dlcs
from vocab.terms import VOCAB_PATH

ENTRY_POINT = dlcs.get("EntryPoint")


def entry_point() -> Response:
    """Return the entry point, with links to the top-level collections."""
    base = jsonld.base_url()
    found = caller()
    mine = {"customer": found.customer} if found is not None else {}
    doc = {
        "@context": jsonld.class_context_url(ENTRY_POINT),
        "@id": f"{base}/",
        "@type": ENTRY_POINT.name,
        **dump(ENTRY_POINT, mine),
    }
    return responses.response(doc)


def documentation() -> Response:
    """Return the hydra:ApiDocumentation."""
    return responses.raw_response(jsonld.documentation_bytes(jsonld.base_url()))


def context(name: str) -> Response:
    """Return the JSON-LD context of a class."""
    if name not in dlcs.BY_NAME:
        raise ApiError(
            404, f"There is no context {name}.jsonld; classes: {', '.join(dlcs.BY_NAME)}."
        )
    return responses.context_response(jsonld.context_bytes(name, jsonld.base_url()))


def openapi_description() -> Response:
    """Return the OpenAPI 3 description, generated from the vocabulary."""
    return responses.json_response(jsonld.openapi_bytes(jsonld.base_url()))


def console_script() -> Response:
    """Return the console's script."""
    return current_app.send_static_file("console.js")


def register(bp: Blueprint) -> None:
    """Add the discovery routes to the API blueprint."""
    bp.add_url_rule("/console.js", view_func=console_script, methods=["GET"])
    bp.add_url_rule("/openapi.json", view_func=openapi_description, methods=["GET"])
    bp.add_url_rule("/", view_func=entry_point, methods=["GET"])
    bp.add_url_rule(VOCAB_PATH, view_func=documentation, methods=["GET"])
    bp.add_url_rule("/contexts/<name>.jsonld", view_func=context, methods=["GET"])
