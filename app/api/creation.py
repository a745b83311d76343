"""What Customers, Spaces and Keys do beyond the generic resource: how a POST numbers a new one,
what blocks a deletion, who may list them, and that keys change with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response
from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.exc import IntegrityError

from app import resources
from app.resources import Behaviour
from app.storage import access
from app.storage.db import connection
from app.storage.store import now, store
from app.web import auth, responses
from app.web.errors import ApiError
from vocab.model import Class


def create_customer(member: Class, keys: Mapping[str, Any], behaviour: Behaviour) -> Response:
    """Create a Customer; the database numbers it."""
    return resources.create(member, {"customer": None}, behaviour=behaviour)


def visible_customers(customers: Table) -> list[ColumnElement[bool]]:
    """Return what limits a collection of customers: a caller sees its own, an admin all."""
    caller = auth.require_caller()
    return [] if caller.admin else [customers.c.customer == caller.customer]


def create_space(member: Class, keys: Mapping[str, Any], behaviour: Behaviour) -> Response:
    """Create a Space numbered one more than the customer's highest."""
    table = store(member.name).table
    query = select(func.coalesce(func.max(table.c.space), 0)).where(
        table.c.customer == keys["customer"]
    )
    for _attempt in range(3):
        number = connection().execute(query).scalar_one() + 1
        try:
            return resources.create(member, {**keys, "space": number}, behaviour=behaviour)
        except ApiError as exc:
            if exc.code != 409:
                raise
    raise ApiError(409, "Spaces are being created too fast; try again.")


def create_key(member: Class, keys: Mapping[str, Any], behaviour: Behaviour) -> Response:
    """Create an API key; its secret is in this response and nowhere else."""
    key, secret = auth.new_credentials()
    conn = connection()
    values = {**keys, "key": key, "created": now(), "secret_hash": access.digest(secret)}
    try:
        store(member.name).insert(conn, values)
        conn.commit()
    except IntegrityError as exc:  # pragma: no cover - a 128-bit collision
        conn.rollback()
        raise ApiError(409, "Key collision; try again.") from exc
    doc = resources.document(member, {**values, "secret": secret})
    return responses.response(doc, 201, {"Location": doc["@id"]})


CUSTOMER = Behaviour(
    create=create_customer, blockers=("Space",), credentials=True, visible=visible_customers
)
SPACE = Behaviour(create=create_space, blockers=("Image",))
KEY = Behaviour(create=create_key, credentials=True)
