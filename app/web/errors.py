"""The errors the API raises: an HTTP status, a message and, for bad input, each fault."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from psycopg.errors import QueryCanceled
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from app.web.jsonld import context_url
from vocab import dlcs

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


def told(exc: HTTPException) -> HTTPException:
    """Return the error to answer with for ``exc``: itself, but for an untrusted Host header,
    a 400 that does not repeat the host (werkzeug's message would put it in the body)."""
    if isinstance(exc, SecurityError):
        return ApiError(
            400,
            "The Host header names a host this server does not answer to: ask it by its "
            "public name (its operator lists them in DLCS_TRUSTED_HOSTS).",
        )
    return exc


def bad_request(violations: Iterable[tuple[str, str]], summary: str | None = None) -> ApiError:
    """Return a 400 error naming each ``(property, message)`` fault."""
    faults = list(violations)
    text = summary or "; ".join(f"{path}: {message}" for path, message in faults)
    return ApiError(400, text, faults)


def error_document(
    code: int, description: str, violations: Iterable[tuple[str, str]], base: str, instance: str
) -> dict[str, Any]:
    """Return the body of an error response to the request for ``instance`` (a URL)."""
    title = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
    doc: dict[str, Any] = {
        "@context": context_url(ERROR, base),
        "@type": "Error",
        "statusCode": code,
        "status": code,
        "title": title,
        "description": description,
        "detail": description,
        "instance": instance,
    }
    faults = list(violations)
    if faults:
        doc["violations"] = [{"propertyPath": p, "message": m} for p, m in faults]
    return doc


def unexpected(exc: BaseException, statement_timeout: float) -> HTTPException:
    """Return the error to answer an exception no code expected with: 503 for a statement
    that ran past ``DLCS_STATEMENT_TIMEOUT`` (PostgreSQL), else 500 (for the log)."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, QueryCanceled):
        seen = seen.__cause__ or seen.__context__
    if seen is not None:
        return ApiError(
            dlcs.UNAVAILABLE.code,
            f"The database did not answer within {statement_timeout:g} s; try again.",
        )
    return InternalServerError("The server failed; the failure was logged.")
