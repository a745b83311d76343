"""The collections that create resources with POST, and how each numbers the new one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import resources
from app.storage.db import connection
from app.storage.store import now, store
from app.web import auth, responses
from app.web.errors import ApiError
from vocab.model import Class


def create_customer(member: Class, keys: Mapping[str, Any]) -> Response:
    """Create a Customer; the database numbers it."""
    return resources.create(member, {"customer": None})


def create_space(member: Class, keys: Mapping[str, Any]) -> Response:
    """Create a Space numbered one more than the customer's highest."""
    table = store(member.name).table
    query = select(func.coalesce(func.max(table.c.space), 0)).where(
        table.c.customer == keys["customer"]
    )
    for _attempt in range(3):
        number = connection().execute(query).scalar_one() + 1
        try:
            return resources.create(member, {**keys, "space": number})
        except ApiError as exc:
            if exc.code != 409:
                raise
    raise ApiError(409, "Spaces are being created too fast; try again.")


def create_key(member: Class, keys: Mapping[str, Any]) -> Response:
    """Create an API key; its secret is in this response and nowhere else."""
    key, secret = auth.new_credentials()
    conn = connection()
    values = {**keys, "key": key, "created": now(), "secret_hash": auth.hash_secret(secret)}
    try:
        store(member.name).insert(conn, values)
        conn.commit()
    except IntegrityError as exc:  # pragma: no cover - a 128-bit collision
        conn.rollback()
        raise ApiError(409, "Key collision; try again.") from exc
    doc = resources.document(member, {**values, "secret": secret})
    return responses.response(doc, 201, {"Location": doc["@id"]})


POSTS: dict[str, Callable[[Class, Mapping[str, Any]], Response]] = {
    "/customers": create_customer,
    "/customers/{customer}/spaces": create_space,
    "/customers/{customer}/keys": create_key,
}
