"""One path for every error: a Hydra Error that is also an RFC 9457 problem, never HTML."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus

from flask import Flask, Response, current_app, request
from psycopg.errors import QueryCanceled
from werkzeug.exceptions import HTTPException, InternalServerError

from app import jsonld
from vocab import dlcs

log = logging.getLogger(__name__)
ERROR = dlcs.get("Error")


class ApiError(HTTPException):
    """An HTTP error with a message and, for validation failures, the faults one by one."""

    def __init__(
        self,
        code: int,
        description: str,
        violations: Iterable[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.violations = list(violations)
        self.extra_headers = headers or {}


def bad_request(violations: Iterable[tuple[str, str]], summary: str | None = None) -> ApiError:
    """Return a 400 error naming each ``(property, message)`` fault."""
    faults = list(violations)
    text = summary or "; ".join(f"{path}: {message}" for path, message in faults)
    return ApiError(400, text, faults)


def error_document(code: int, description: str, violations: list[tuple[str, str]]) -> dict:
    """Return the body of an error response."""
    base = jsonld.base_url()
    title = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
    doc: dict = {
        "@context": jsonld.context_url(ERROR, base),
        "@type": "Error",
        "statusCode": code,
        "status": code,
        "title": title,
        "description": description,
        "detail": description,
        "instance": base + request.full_path.rstrip("?"),
    }
    if violations:
        doc["violations"] = [{"propertyPath": p, "message": m} for p, m in violations]
    return doc


def _handle_http(exc: HTTPException) -> Response:
    code = exc.code or 500
    description = exc.description or HTTPStatus(code).phrase
    violations = getattr(exc, "violations", [])
    response = jsonld.error_response(error_document(code, description, violations), code)
    for name, value in getattr(exc, "extra_headers", {}).items():
        response.headers[name] = value
    if code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _handle_unexpected(exc: Exception) -> Response:
    if _cause(exc, QueryCanceled) is not None:  # (DLCS_STATEMENT_TIMEOUT on PostgreSQL)
        log.warning("a statement of %s %s timed out", request.method, request.path)
        seconds = current_app.config["STATEMENT_TIMEOUT"]
        unavailable = dlcs.UNAVAILABLE.code
        return _handle_http(
            ApiError(unavailable, f"The database did not answer within {seconds:g} s; try again.")
        )
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http(InternalServerError("The server failed; the failure was logged."))


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, kind):
        seen = seen.__cause__ or seen.__context__
    return seen


def init_app(app: Flask) -> None:
    """Send every error, the framework's own included, through one handler."""
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
