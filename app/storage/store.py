"""Reading and writing the rows of a vocabulary class, multi-valued properties included.

A resource is handled as a plain dict of its key columns and stored property values;
multi-valued properties are lists, read from their child tables with one query per
property for a whole page of rows (never one query per row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import aggregate_order_by

from app.storage.models import CHILDREN, COUNTED, INHERITED, TABLES, key_columns
from vocab import dlcs
from vocab.model import Class

# The label of a column holding a value of INHERITED beside a row (see Store.get_for_replacing).
INHERITED_LABEL = "inherited_"


def now() -> dt.datetime:
    """Return the current UTC time, to the millisecond (what responses show)."""
    moment = dt.datetime.now(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Replacing(NamedTuple):
    """What a PUT that replaces a resource reads first (see Store.get_for_replacing)."""

    current: dict[str, Any]
    inherited: dict[str, Any]


class Store:
    """The table and child tables of one class."""

    def __init__(self, cls: Class) -> None:
        self.cls = cls
        self.table = TABLES[cls.name]
        self.children = CHILDREN[cls.name]
        self.keys = key_columns(cls)
        self.columns = [c.name for c in self.table.columns]
        self._built: dict[str, dict[str, Any]] = {}
        self._children_sql: dict[str, tuple[Any, Any]] = {}
        self._updates: dict[tuple[str, ...], Any] = {}

    def match(self, keys: Mapping[str, Any]) -> ColumnElement[bool]:
        """Return the condition selecting the row with these key values."""
        return and_(*(self.table.c[k] == keys[k] for k in self.keys))

    def _child_match(self, child: Any, keys: Mapping[str, Any]) -> ColumnElement[bool]:
        return and_(*(child.c[k] == keys[k] for k in self.keys))

    def get(
        self, conn: Connection, keys: Mapping[str, Any], *, lock: bool = False
    ) -> dict[str, Any] | None:
        """Return the resource with these key values, or None (``lock``: for update)."""
        query = self._statements(conn.dialect.name)["lock" if lock else "get"]
        row = conn.execute(query, dict(keys)).mappings().first()
        return self._values(dict(row)) if row is not None else None

    def inherited(self, conn: Connection, keys: Mapping[str, Any]) -> dict[str, Any]:
        """Return the values a new resource with these keys takes from its parent (INHERITED).

        Empty when the class inherits nothing or the parent does not exist.
        """
        if self.cls.name not in INHERITED:
            return {}
        parent_name, columns = INHERITED[self.cls.name]
        parent = store(parent_name)
        row = parent.get(conn, {k: keys[k] for k in parent.keys})
        if row is None:
            return {}
        return {name: row[column] for name, column in columns.items()}

    def get_for_replacing(self, conn: Connection, keys: Mapping[str, Any]) -> Replacing | None:
        """Return the resource's values and those of :meth:`inherited`, locked for update.

        One statement reads them: a PUT that replaces a resource needs its current values and
        the ones a new resource would start with. None when the resource does not exist.
        """
        statement = self._statements(conn.dialect.name)["replace"]
        found = conn.execute(statement, dict(keys)).mappings().first()
        if found is None:
            return None
        row = dict(found)
        given = {}
        if self.cls.name in INHERITED:
            parent_name, columns = INHERITED[self.cls.name]
            parent = store(parent_name)
            for name, column in columns.items():
                value = row.pop(INHERITED_LABEL + name)
                given[name] = _listed(value) if column in parent.children else value
        return Replacing(self._values(row), given)

    def lock_key(self, conn: Connection, keys: Mapping[str, Any]) -> bool:
        """Make the writes that create or delete the resource of ``keys`` take turns.

        A row lock cannot do it: before a row is created there is nothing to lock, so two
        creators (or a creator and a deleter) could each see it missing and collide on the
        insert, again and again. PostgreSQL holds a lock on the key itself until the
        transaction ends; SQLite needs none (its writers take turns already). Returns whether
        a lock was taken.
        """
        if conn.dialect.name != "postgresql":
            return False
        name = "/".join([self.table.name, *(str(keys[k]) for k in self.keys)])
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))
        return True

    def exists(self, conn: Connection, keys: Mapping[str, Any]) -> bool:
        """Whether a resource with these key values exists."""
        query = self._statements(conn.dialect.name)["exists"]
        return conn.execute(query, dict(keys)).first() is not None

    def select(self, dialect: str) -> Select:
        """Return a SELECT of whole resources (multi-valued properties included)."""
        return self._statements(dialect)["select"]

    def _statements(self, dialect: str) -> dict[str, Any]:
        # Built once per database kind, with bound parameters: a request only executes them.
        cached = self._built.get(dialect)
        if cached is None:
            columns = [self._aggregate(n, c, dialect) for n, c in self.children.items()]
            whole = select(self.table, *columns)
            by_key = [self.table.c[k] == bindparam(k) for k in self.keys]
            cached = {
                "select": whole,
                "get": whole.where(*by_key),
                "lock": whole.where(*by_key).with_for_update(of=self.table),
                "exists": select(self.table.c[self.keys[0]]).where(*by_key).limit(1),
            }
            given = self._inherited_columns(dialect)
            replace = whole.add_columns(*given).where(*by_key)
            cached["replace"] = replace.with_for_update(of=self.table)
            self._built[dialect] = cached
        return cached

    def _aggregate(self, name: str, child: Any, dialect: str, owner: Any = None) -> Any:
        """Return a column holding a row's values of a multi-valued property, in order.

        The row is one of this class's table, or of ``owner`` (a child's table), whose
        columns of the same names hold this class's key.
        """
        owner = self.table if owner is None else owner
        link = [child.c[k] == owner.c[k] for k in self.keys]
        if dialect == "postgresql":
            ordered = aggregate_order_by(child.c.value, child.c.position)
            return select(func.array_agg(ordered)).where(*link).scalar_subquery().label(name)
        # SQLite: aggregate an ordered subquery into a JSON array.
        inner = select(child.c.value).where(*link).order_by(child.c.position)
        values = inner.correlate(owner).subquery()
        return select(func.json_group_array(values.c.value)).scalar_subquery().label(name)

    def _inherited_columns(self, dialect: str) -> list[Any]:
        # The parent's values of INHERITED, each a column beside this class's row.
        if self.cls.name not in INHERITED:
            return []
        parent_name, columns = INHERITED[self.cls.name]
        parent = store(parent_name)
        link = [parent.table.c[k] == self.table.c[k] for k in parent.keys]
        given = []
        for name, column in columns.items():
            label = INHERITED_LABEL + name
            if column in parent.children:
                child = parent.children[column]
                given.append(parent._aggregate(label, child, dialect, owner=self.table))
            else:
                value = select(parent.table.c[column]).where(*link).scalar_subquery()
                given.append(value.label(label))
        return given

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        # ``values``: a row as a new dict, completed in place.
        for name in self.children:
            values[name] = _listed(values.get(name))
        return values

    def count(self, conn: Connection, where: Iterable[ColumnElement[bool]]) -> int:
        """Return how many rows meet every condition."""
        query = select(func.count()).select_from(self.table).where(*where)
        return conn.execute(query).scalar_one()

    def fetch(self, conn: Connection, query: Select) -> list[dict[str, Any]]:
        """Run a SELECT built from :meth:`select` and return its resources."""
        result = conn.execute(query)
        names = tuple(result.keys())  # once, not per row as a mapping view would
        return [self._values(dict(zip(names, row, strict=True))) for row in result]

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
            keys = dict(zip(self.keys, result.inserted_primary_key or (), strict=True))
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

    def update(
        self,
        conn: Connection,
        keys: Mapping[str, Any],
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the given property values of an existing resource.

        Given the ``current`` values, columns and lists that would not change are not written.
        """
        if current is not None:
            values = {k: v for k, v in values.items() if k not in current or current[k] != v}
        names = tuple(c for c in self.columns if c in values and c not in self.keys)
        if names:
            parameters = {
                **{c: values[c] for c in names},
                **{f"key_{k}": keys[k] for k in self.keys},
            }
            conn.execute(self._update(names), parameters)
        self._write_children(conn, keys, values, replace=True)

    def _update(self, names: tuple[str, ...]) -> Any:
        # An UPDATE of these columns by key, with bound parameters, built once per set of
        # columns (a handful in practice): building it anew took a third of a PUT's statements.
        statement = self._updates.get(names)
        if statement is None:
            by_key = [self.table.c[k] == bindparam(f"key_{k}") for k in self.keys]
            changes: dict[str, Any] = {c: bindparam(c) for c in names}
            statement = sql_update(self.table).where(*by_key).values(changes)
            self._updates[names] = statement
        return statement

    def _write_children(
        self, conn: Connection, keys: Mapping[str, Any], values: Mapping[str, Any], *, replace: bool
    ) -> None:
        for name in self.children:
            if name not in values:
                continue
            clear, add = self._child_statements(name)
            if replace:
                conn.execute(clear, dict(keys))
            items = [
                {**keys, "position": position, "value": value}
                for position, value in enumerate(values[name])
            ]
            if items:
                conn.execute(add, items)

    def _child_statements(self, name: str) -> tuple[Any, Any]:
        # Clearing a row's values of a multi-valued property, and adding values.
        found = self._children_sql.get(name)
        if found is None:
            child = self.children[name]
            clear = delete(child).where(*(child.c[k] == bindparam(k) for k in self.keys))
            found = self._children_sql[name] = clear, insert(child)
        return found

    def delete(self, conn: Connection, keys: Mapping[str, Any]) -> bool:
        """Delete a resource and its multi-valued properties; return whether it existed."""
        for child in self.children.values():
            conn.execute(delete(child).where(self._child_match(child, keys)))
        deleted = conn.execute(delete(self.table).where(self.match(keys))).rowcount > 0
        if deleted:
            self._count(conn, keys, -1)
        return deleted


def _listed(found: Any) -> list[Any]:
    # A multi-valued property's column: an array (PostgreSQL), JSON text (SQLite) or NULL.
    if isinstance(found, str):
        found = orjson.loads(found)
    return list(found or ())


@cache
def store(name: str) -> Store:
    """Return the store of the class called ``name``."""
    return Store(dlcs.get(name))
