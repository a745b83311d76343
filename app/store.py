"""Reading and writing the rows of a vocabulary class, multi-valued properties included.

A resource is handled as a plain dict of its key columns and stored property values;
multi-valued properties are lists, read from their child tables with one query per
property for a whole page of rows (never one query per row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, delete, func, insert, select
from sqlalchemy import tuple_ as sql_tuple
from sqlalchemy import update as sql_update

from app.models import CHILDREN, COUNTED, TABLES, key_columns
from vocab import dlcs
from vocab.model import Class


def now() -> dt.datetime:
    """Return the current UTC time, to the millisecond (what responses show)."""
    moment = dt.datetime.now(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Store:
    """The table and child tables of one class."""

    def __init__(self, cls: Class) -> None:
        self.cls = cls
        self.table = TABLES[cls.name]
        self.children = CHILDREN[cls.name]
        self.keys = key_columns(cls)
        self.columns = [c.name for c in self.table.columns]

    def match(self, keys: Mapping[str, Any]) -> ColumnElement[bool]:
        """Return the condition selecting the row with these key values."""
        return and_(*(self.table.c[k] == keys[k] for k in self.keys))

    def _child_match(self, child: Any, keys: Mapping[str, Any]) -> ColumnElement[bool]:
        return and_(*(child.c[k] == keys[k] for k in self.keys))

    def get(
        self, conn: Connection, keys: Mapping[str, Any], *, lock: bool = False
    ) -> dict[str, Any] | None:
        """Return the resource with these key values, or None (``lock``: for update)."""
        query = select(self.table).where(self.match(keys))
        row = conn.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            return None
        values = dict(row)
        for name, child in self.children.items():
            query = select(child.c.value).where(self._child_match(child, keys))
            values[name] = list(conn.execute(query.order_by(child.c.position)).scalars())
        return values

    def exists(self, conn: Connection, keys: Mapping[str, Any]) -> bool:
        """Whether a resource with these key values exists."""
        query = select(self.table.c[self.keys[0]]).where(self.match(keys)).limit(1)
        return conn.execute(query).first() is not None

    def select(self) -> Select:
        """Return a SELECT of whole rows, to add conditions, order and limits to."""
        return select(self.table)

    def count(self, conn: Connection, where: Iterable[ColumnElement[bool]]) -> int:
        """Return how many rows meet every condition."""
        query = select(func.count()).select_from(self.table).where(*where)
        return conn.execute(query).scalar_one()

    def fetch(self, conn: Connection, query: Select) -> list[dict[str, Any]]:
        """Run a SELECT of whole rows and attach their multi-valued properties."""
        rows = [dict(r) for r in conn.execute(query).mappings()]
        if not rows or not self.children:
            return rows
        by_key = {tuple(r[k] for k in self.keys): r for r in rows}
        for name, child in self.children.items():
            for row in rows:
                row[name] = []
            key_cols = [child.c[k] for k in self.keys]
            if len(key_cols) == 1:
                condition = key_cols[0].in_([k[0] for k in by_key])
            else:
                condition = sql_tuple(*key_cols).in_(list(by_key))
            query_children = (
                select(*key_cols, child.c.value).where(condition).order_by(child.c.position)
            )
            for *key, value in conn.execute(query_children):
                by_key[tuple(key)][name].append(value)
        return rows

    def insert(self, conn: Connection, values: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a resource; return its key values (a serial key is filled in)."""
        # A key left as None is one the database assigns.
        row = {
            c: values[c]
            for c in self.columns
            if c in values and not (c in self.keys and values[c] is None)
        }
        result = conn.execute(insert(self.table).values(**row))
        keys = {k: values.get(k) for k in self.keys}
        if any(v is None for v in keys.values()):
            keys = dict(zip(self.keys, result.inserted_primary_key, strict=True))
        self._write_children(conn, keys, values, replace=False)
        self._count(conn, keys, +1)
        return keys

    def _count(self, conn: Connection, keys: Mapping[str, Any], change: int) -> None:
        if self.cls.name not in COUNTED:
            return
        parent_name, column = COUNTED[self.cls.name]
        parent = TABLES[parent_name]
        outer = self.keys[:-1]
        conn.execute(
            sql_update(parent)
            .where(*(parent.c[k] == keys[k] for k in outer))
            .values({column: parent.c[column] + change})
        )

    def update(self, conn: Connection, keys: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Write the given property values of an existing resource."""
        row = {c: values[c] for c in self.columns if c in values and c not in self.keys}
        if row:
            conn.execute(sql_update(self.table).where(self.match(keys)).values(**row))
        self._write_children(conn, keys, values, replace=True)

    def _write_children(
        self, conn: Connection, keys: Mapping[str, Any], values: Mapping[str, Any], *, replace: bool
    ) -> None:
        for name, child in self.children.items():
            if name not in values:
                continue
            if replace:
                conn.execute(delete(child).where(self._child_match(child, keys)))
            items = [
                {**keys, "position": position, "value": value}
                for position, value in enumerate(values[name])
            ]
            if items:
                conn.execute(insert(child), items)

    def delete(self, conn: Connection, keys: Mapping[str, Any]) -> bool:
        """Delete a resource and its multi-valued properties; return whether it existed."""
        for child in self.children.values():
            conn.execute(delete(child).where(self._child_match(child, keys)))
        deleted = conn.execute(delete(self.table).where(self.match(keys))).rowcount > 0
        if deleted:
            self._count(conn, keys, -1)
        return deleted


@cache
def store(name: str) -> Store:
    """Return the store of the class called ``name``."""
    return Store(dlcs.get(name))
