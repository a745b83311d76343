"""URLs a customer stores that a browser is sent to (a role's sign-in page): what they may be.

Only absolute ``https`` URLs with a host, and ``http`` ones where DLCS_ALLOW_HTTP_URLS says
so (for a sign-in page on a test machine): never ``javascript:``, ``data:``, a scheme-relative
``//host``, ``ftp:`` or a relative path, which a redirect would take the user to as readily.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def browser_url_fault(url: str, allow_http: bool) -> str | None:
    """Return what is wrong with ``url`` as a page to send a browser to, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "must be a valid URL"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        allowed = " or http" if allow_http else ""
        return f"must be an absolute https{allowed} URL (https://host/path)"
    if any(c in url for c in "\r\n\t\x00 ") or "\\" in url:
        return "must not hold spaces, backslashes or control characters"
    return None
