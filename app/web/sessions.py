"""Sessions that hold roles of a customer, and grants of them (for images with roles).

A session is a value signed with the server's secret (itsdangerous), naming its customer and
roles, that expires: in a browser the cookie ``dlcs-auth2-{customer}`` (set by the access
service), for a IIIF Auth client the bearer token the token service hands over (the same
value). A grant is such a value too, under another salt and for a shorter time: what a
customer's own sign-in page hands a browser for the access service to turn into a session.
A value signed for one customer opens nothing of another's, and one altered or expired opens
nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.http import dump_cookie, parse_cookie

_SESSION_SALT = "dlcs-auth2-session"
_GRANT_SALT = "dlcs-auth2-grant"


def cookie_name(customer: int) -> str:
    """Return the name of the session cookie of a customer (the real DLCS's)."""
    return f"dlcs-auth2-{int(customer)}"


class Sessions:
    """Sessions and grants: signed, expiring, each bound to one customer."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        secret = config["SECRET_KEY"]
        self.sessions = URLSafeTimedSerializer(secret, salt=_SESSION_SALT)
        self.grants = URLSafeTimedSerializer(secret, salt=_GRANT_SALT)
        self.session_seconds = int(config["AUTH_SESSION_SECONDS"])
        self.grant_seconds = int(config["AUTH_GRANT_SECONDS"])
        self.secure = bool(config["AUTH_COOKIE_SECURE"])

    def session(self, customer: int, roles: Iterable[str]) -> str:
        """Return a new session of ``customer`` holding ``roles`` (role keys)."""
        return self.sessions.dumps({"c": int(customer), "r": sorted(set(roles))})

    def grant(self, customer: int, roles: Iterable[str]) -> tuple[str, dt.datetime]:
        """Return a new grant of ``roles`` to a session of ``customer``, and when it expires."""
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.grant_seconds)
        return self.grants.dumps({"c": int(customer), "r": sorted(set(roles))}), expires

    def granted(self, token: str, customer: int) -> frozenset[str] | None:
        """Return the roles a grant of ``customer`` gives; None for any other value."""
        return _roles(self.grants, token, customer, self.grant_seconds)

    def held(self, environ: Mapping[str, Any], customer: int) -> frozenset[str] | None:
        """Return the roles of the request's session of ``customer`` (its cookie, or else its
        bearer token); None when it has no valid one."""
        token = _cookie(environ, customer)
        if token is None:
            scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            token = credentials.strip() if scheme.lower() == "bearer" else None
        if not token:
            return None
        return _roles(self.sessions, token, customer, self.session_seconds)

    def cookie_value(self, environ: Mapping[str, Any], customer: int) -> tuple[str, int] | None:
        """Return the request's session cookie of ``customer`` and the seconds it has left, if
        it is a valid session."""
        token = _cookie(environ, customer)
        if not token or _roles(self.sessions, token, customer, self.session_seconds) is None:
            return None
        _found, signed = self.sessions.loads(token, return_timestamp=True)
        age = (dt.datetime.now(dt.UTC) - signed).total_seconds()
        return token, max(0, int(self.session_seconds - age))

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


def _cookie(environ: Mapping[str, Any], customer: int) -> str | None:
    return parse_cookie(environ.get("HTTP_COOKIE", "")).get(cookie_name(customer))


def _roles(
    signer: URLSafeTimedSerializer, token: str, customer: int, seconds: int
) -> frozenset[str] | None:
    try:
        found = signer.loads(token, max_age=seconds)
    except BadData:  # (altered, expired, or not ours)
        return None
    if not isinstance(found, dict) or found.get("c") != int(customer):
        return None
    roles = found.get("r")
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else None
