"""Sessions that hold roles of a customer, and grants of them (for images with roles).

A session is a row (:mod:`app.storage.access`) named by two random values: the cookie
``dlcs-auth2-{customer}`` its browser holds (set by the access service), and an access token
for the IIIF Auth probe, which the token service hands to the viewer that framed it. The token
is not the cookie, nor can the cookie be made from it: it is the HMAC of the cookie under the
server's secret, so the token service gives the same token for as long as the session lasts.
Content (images, thumbnails, info.json) is opened by the cookie alone, on GET; the token opens
the probe, and HEAD requests. A grant is a random value too, taken once, at the access service
of a role it names. Ending a session (logout) deletes its row: the cookie and the token stop
working on every process at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine
from werkzeug.http import dump_cookie, parse_cookie

from app.storage import access
from app.storage.store import now

# (the longest value a cookie, token or grant of this server has: a token's 64 hex digits)
_LONGEST = 64


def cookie_name(customer: int) -> str:
    """Return the name of the session cookie of a customer (the real DLCS's)."""
    return f"dlcs-auth2-{int(customer)}"


class Sessions:
    """Sessions and grants of a customer's roles."""

    def __init__(self, config: Mapping[str, Any], engine: Engine) -> None:
        self.secret = str(config["SECRET_KEY"]).encode()
        self.engine = engine
        self.session_seconds = int(config["AUTH_SESSION_SECONDS"])
        self.grant_seconds = int(config["AUTH_GRANT_SECONDS"])
        self.secure = bool(config["AUTH_COOKIE_SECURE"])

    def token_of(self, cookie: str) -> str:
        """Return the access token of the session that ``cookie`` names."""
        mac = hmac.new(self.secret, b"dlcs-auth2-token:" + cookie.encode(), hashlib.sha256)
        return mac.hexdigest()

    def start(self, customer: int, roles: Iterable[str]) -> tuple[str, dt.datetime]:
        """Start a session of ``customer`` holding ``roles``; return its cookie, and when it
        ends."""
        cookie = secrets.token_urlsafe(32)
        token = self.token_of(cookie)
        with self.engine.begin() as conn:
            expires = access.open_session(
                conn, customer, roles, self.session_seconds, cookie, token
            )
        return cookie, expires

    def end(self, environ: Mapping[str, Any], customer: int) -> None:
        """End the request's session of ``customer`` (its cookie's), if it has one."""
        cookie = _cookie(environ, customer)
        if cookie:
            with self.engine.begin() as conn:
                access.end_session(conn, cookie)

    def held(
        self, environ: Mapping[str, Any], customer: int, *, token: bool = False
    ) -> frozenset[str] | None:
        """Return the roles of the request's session of ``customer``: its cookie's, or, where
        ``token`` allows it (the probe, HEAD), its bearer token's; None when it has none."""
        found = self.session(environ, customer, token=token)
        return found.roles if found is not None else None

    def session(
        self, environ: Mapping[str, Any], customer: int, *, token: bool = False
    ) -> access.Held | None:
        """Return the request's session of ``customer`` (see :meth:`held`), or None."""
        cookie, bearer = _cookie(environ, customer), ""
        if token:
            scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme.lower() == "bearer" and 0 < len(credentials.strip()) <= _LONGEST:
                bearer = credentials.strip()
        if not cookie and not bearer:
            return None
        with self.engine.connect() as conn:  # (the cookie's session, else the token's)
            found = access.find_session(conn, customer, cookie=cookie) if cookie else None
            if found is None and bearer:
                found = access.find_session(conn, customer, token=bearer)
            return found

    def access_token(self, environ: Mapping[str, Any], customer: int) -> tuple[str, int] | None:
        """Return the access token of the request's session of ``customer`` (its cookie's),
        and the seconds the session has left; None when it has none."""
        cookie = _cookie(environ, customer)
        if not cookie:
            return None
        with self.engine.connect() as conn:
            found = access.find_session(conn, customer, cookie=cookie)
        if found is None:
            return None
        return self.token_of(cookie), max(0, int((found.expires - now()).total_seconds()))

    def take_grant(self, grant: str, customer: int) -> frozenset[str] | None:
        """Take a grant of ``customer`` (once only); return its roles, or None."""
        if not 0 < len(grant) <= _LONGEST:
            return None
        with self.engine.begin() as conn:
            return access.take_grant(conn, customer, grant)

    def cookie(self, customer: int, value: str, *, clear: bool = False) -> tuple[str, str]:
        """Return the ``Set-Cookie`` header of a session of ``customer`` (or its removal).

        ``HttpOnly``; ``SameSite=None; Secure`` so that a viewer on another site sends it,
        or, with ``DLCS_AUTH_COOKIE_SECURE=false`` (plain HTTP, for local use), ``Lax``.
        """
        header = dump_cookie(
            cookie_name(customer),
            "" if clear else value,
            max_age=0 if clear else self.session_seconds,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="None" if self.secure else "Lax",
        )
        return ("Set-Cookie", header)


def _cookie(environ: Mapping[str, Any], customer: int) -> str:
    value = parse_cookie(environ.get("HTTP_COOKIE", "")).get(cookie_name(customer), "")
    return value if len(value) <= _LONGEST else ""
