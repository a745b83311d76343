"""Sessions of a customer's roles, and grants of them, as rows (IIIF Auth).

Each is named by the SHA-256 of a random value only its holder has (a browser's cookie, a
client's access token, a grant in a URL): a copy of the database opens nothing. A session is
found by its cookie or by its access token, of one customer, until it expires or is ended; ending
it deletes its row, so it is over for every process of every machine at once. A grant is
taken once: the first to take it deletes it. Each function works in the caller's connection
(and transaction).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, delete, insert, select

from app.storage.models import auth_grants, auth_sessions
from app.storage.store import now


class Held(NamedTuple):
    """What a session holds: its roles, and when it ends."""

    roles: frozenset[str]
    expires: dt.datetime


def digest(secret: str) -> str:
    """Return the stored form of a secret (a session's cookie or token, a grant, an API key's
    secret): its SHA-256. A slow password hash adds nothing for a random value."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _roles(roles: Iterable[str]) -> str:
    return json.dumps(sorted(set(roles)))


def open_session(
    conn: Connection, customer: int, roles: Iterable[str], seconds: int, cookie: str, token: str
) -> dt.datetime:
    """Start a session of ``customer`` holding ``roles`` for ``seconds``, found by ``cookie``
    and by ``token``; return when it ends (sessions that have ended are deleted)."""
    moment = now()
    expires = moment + dt.timedelta(seconds=seconds)
    conn.execute(delete(auth_sessions).where(auth_sessions.c.expires < moment))
    conn.execute(
        insert(auth_sessions).values(
            id=digest(cookie),
            token=digest(token),
            customer=int(customer),
            roles=_roles(roles),
            expires=expires,
        )
    )
    return expires


def find_session(
    conn: Connection, customer: int, *, cookie: str = "", token: str = ""
) -> Held | None:
    """Return what the session of ``customer`` named by its cookie (or else its access token)
    holds, or None when there is no such session now."""
    column = auth_sessions.c.id if cookie else auth_sessions.c.token
    query = select(auth_sessions.c.roles, auth_sessions.c.expires).where(
        column == digest(cookie or token),
        auth_sessions.c.customer == int(customer),
        auth_sessions.c.expires > now(),
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    expires = row.expires if row.expires.tzinfo else row.expires.replace(tzinfo=dt.UTC)
    return Held(frozenset(json.loads(row.roles)), expires)


def end_session(conn: Connection, cookie: str) -> None:
    """End the session that ``cookie`` names, for every holder of its cookie or its token."""
    conn.execute(delete(auth_sessions).where(auth_sessions.c.id == digest(cookie)))


def make_grant(
    conn: Connection, customer: int, roles: Iterable[str], seconds: int
) -> tuple[str, dt.datetime]:
    """Return a new grant of ``roles`` of ``customer``, and when it expires."""
    grant = secrets.token_urlsafe(32)
    moment = now()
    expires = moment + dt.timedelta(seconds=seconds)
    conn.execute(delete(auth_grants).where(auth_grants.c.expires < moment))
    conn.execute(
        insert(auth_grants).values(
            id=digest(grant), customer=int(customer), roles=_roles(roles), expires=expires
        )
    )
    return grant, expires


def take_grant(conn: Connection, customer: int, grant: str) -> frozenset[str] | None:
    """Take a grant of ``customer`` (no one can take it again); return its roles, or None when
    there is no such grant now."""
    row = conn.execute(
        delete(auth_grants)
        .where(
            auth_grants.c.id == digest(grant),
            auth_grants.c.customer == int(customer),
            auth_grants.c.expires > now(),
        )
        .returning(auth_grants.c.roles)
    ).first()
    return frozenset(json.loads(row.roles)) if row is not None else None
