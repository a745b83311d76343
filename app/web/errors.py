"""The errors the API raises: an HTTP status, a message and, for bad input, each fault."""

from __future__ import annotations

from collections.abc import Iterable

from werkzeug.exceptions import HTTPException


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
