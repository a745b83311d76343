"""HTTP Basic authentication with API keys, and the tenancy rule.

A secret is 32 random bytes, so a single SHA-256 is as strong a hash for it as any slow
password hash, and checking it costs microseconds. Keys of an administrator customer act
on every customer; any other key only on its own customer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from cachetools import TTLCache
from flask import Flask, current_app, g, request
from sqlalchemy import bindparam, select
from werkzeug.datastructures import Authorization

from app.storage.access import digest
from app.storage.models import TABLES
from app.web import console, jsonld
from app.web.errors import ApiError

REALM = 'Basic realm="DLCS-API"'


@dataclass(frozen=True)
class Caller:
    """Who sent the request: the customer of the key, and whether it is an admin key."""

    customer: int
    admin: bool

    def may_act_for(self, customer: int) -> bool:
        """Whether this caller may act on the resources of ``customer``."""
        return self.admin or self.customer == customer


def new_credentials() -> tuple[str, str]:
    """Return a new random key and secret."""
    return secrets.token_hex(16), secrets.token_urlsafe(32)


def unauthorized(message: str) -> ApiError:
    """Return a 401 error that asks for Basic credentials."""
    return ApiError(401, message, headers={"WWW-Authenticate": REALM})


_UNKNOWN = object()


def caller() -> Caller | None:
    """Return the authenticated caller of this request, or None when it sent no credentials."""
    known = g.get("caller", _UNKNOWN)
    if known is not _UNKNOWN:
        return known
    header = request.environ.get("HTTP_AUTHORIZATION")
    if header:
        known = key_cache().caller_for(header)
        if known is not None:
            g.caller = known
            return known
    try:
        auth = request.authorization or _console_credentials()
    except ValueError:  # werkzeug's base64 decoding refuses what is not ASCII
        raise unauthorized("The Authorization header is not HTTP Basic credentials.") from None
    found = None
    if auth is not None:
        if auth.type != "basic" or not auth.username or auth.password is None:
            raise unauthorized("Send HTTP Basic credentials: an API key and its secret.")
        found = _check(auth.username, auth.password)
        if found is None:
            raise unauthorized("The API key or its secret is wrong.")
        if header:
            key_cache().remember(header, auth.username, found)
    g.caller = found
    return found


def _console_credentials() -> Authorization | None:
    """Read the console's cookie: only for pages (GET of text/html), never for a write."""
    token = request.cookies.get(console.COOKIE)
    if not token or request.method not in ("GET", "HEAD"):
        return None
    if jsonld.best_match(request.headers.get("Accept", "")) != jsonld.HTML:
        return None
    return Authorization.from_header(f"Basic {token}")


_KEYS, _CUSTOMERS = TABLES["Key"], TABLES["Customer"]
_LOOKUP = (
    select(_KEYS.c.customer, _KEYS.c.secret_hash, _CUSTOMERS.c.administrator)
    .join(_CUSTOMERS, _CUSTOMERS.c.customer == _KEYS.c.customer)
    .where(_KEYS.c.key == bindparam("key"))
)


class KeyCache:
    """What the database said of recently used keys, for a few seconds.

    A key deleted here is forgotten at once; a key deleted by another process stops working
    within ``seconds`` (DLCS_AUTH_CACHE_SECONDS; 0 turns the cache off). Each of the two
    caches holds at most ``size`` entries, the least recently used dropped first.
    """

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        # A key -> its customer, secret hash and admin flag (None: no such key).
        self.entries: TTLCache[str, tuple[int, str, bool] | None] = TTLCache(size, seconds or 1)
        # Authorization headers found good: a SHA-256 of the whole header (never the secret
        # itself) -> the key and the caller. A client sends the same header on every request,
        # so parsing and verifying it once per ``seconds`` is enough.
        self.callers: TTLCache[bytes, tuple[str, Caller]] = TTLCache(size, seconds or 1)
        self.lock = threading.Lock()  # (cachetools' caches are not thread-safe)

    def caller_for(self, header: str) -> Caller | None:
        """Return the caller of an Authorization header found good lately, or None."""
        with self.lock:
            entry = self.callers.get(_digest(header))
        return entry[1] if entry is not None else None

    def remember(self, header: str, key: str, found: Caller) -> None:
        """Note that an Authorization header, sending ``key``, was found good."""
        if self.seconds > 0:
            with self.lock:
                self.callers[_digest(header)] = (key, found)

    def get(self, key: str) -> tuple[int, str, bool] | None:
        """Return the customer, secret hash and admin flag of a key, from memory or the database."""
        with self.lock:
            if key in self.entries:
                return self.entries[key]
        # Read outside the request's own connection: a write's would begin its transaction
        # (SQLite's write lock) before the request body has even been read.
        with current_app.extensions["dlcs.reader"].connect() as conn:
            row = conn.execute(_LOOKUP, {"key": key}).first()
        found = (row.customer, row.secret_hash, bool(row.administrator)) if row else None
        if self.seconds > 0:
            with self.lock:
                self.entries[key] = found
        return found

    def forget(self, key: str) -> None:
        """Drop a key (deleted, or its customer changed)."""
        with self.lock:
            self.entries.pop(key, None)
            for digest in [d for d, entry in self.callers.items() if entry[0] == key]:
                del self.callers[digest]

    def clear(self) -> None:
        """Drop every key."""
        with self.lock:
            self.entries.clear()
            self.callers.clear()


def _digest(header: str) -> bytes:
    return hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()


def key_cache() -> KeyCache:
    """Return this app's key cache."""
    return current_app.extensions["dlcs.keys"]


def _check(key: str, secret: str) -> Caller | None:
    if not key.isalnum() or not key.isascii() or len(key) > 64:
        return None  # keys are hex tokens: anything else cannot match
    found = key_cache().get(key)
    # Hash even when the key is unknown, so timing does not tell which keys exist.
    given = digest(secret)
    if found is None or not hmac.compare_digest(given, found[1]):
        return None
    return Caller(customer=found[0], admin=found[2])


def require_caller() -> Caller:
    """Return the caller, or fail with 401 when the request has no credentials."""
    found = caller()
    if found is None:
        raise unauthorized("This resource needs an API key: send HTTP Basic credentials.")
    return found


def require_customer(customer: int) -> Caller:
    """Return the caller if it may act for ``customer``; 401 otherwise."""
    found = require_caller()
    if not found.may_act_for(customer):
        raise unauthorized(f"This API key may not act for customer {customer}.")
    return found


def require_admin() -> Caller:
    """Return the caller if it holds an admin key; 403 when it is another customer's."""
    found = require_caller()
    if not found.admin:
        raise ApiError(403, "Only an administrator's API key may do this.")
    return found


def guard() -> None:
    """Require a key of the customer in the path (a before_request function of the API)."""
    if request.method == "OPTIONS" or request.view_args is None:
        return
    customer = request.view_args.get("customer")
    if customer is not None:
        require_customer(customer)


def init_app(app: Flask) -> None:
    """Set up the cache of what the database said of API keys."""
    app.extensions["dlcs.keys"] = KeyCache(float(app.config["AUTH_CACHE_SECONDS"]))
