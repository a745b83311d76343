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
    Dialect,
    Executable,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import DBAPIError

from app.db import dbapi_cursor, done_with
from app.models import CHILDREN, COUNTED, INHERITED, TABLES, key_columns
from vocab import dlcs
from vocab.model import Class

# The label of a column holding a value of INHERITED beside a row (see Store.get_for_replacing).
INHERITED_LABEL = "inherited_"
# The label of the row's version beside a row read for a versioned write.
VERSION_LABEL = "row_version"


def has_row_versions(dialect: Dialect) -> bool:
    """Whether a write can check that a row is still the version it read, without a lock.

    PostgreSQL gives every version of a row its own ``xmin`` (the transaction that wrote it),
    so a write that checks it costs no round trips of its own. SQLite has nothing of the
    kind, and needs none: its writes queue on one lock, and a statement costs no round trip.
    """
    return dialect.name == "postgresql"


def _row_version(table: Any) -> ColumnElement[str]:
    return literal_column(f"{table.name}.xmin::text", String)


def now() -> dt.datetime:
    """Return the current UTC time, to the millisecond (what responses show)."""
    moment = dt.datetime.now(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Prepared:
    """A statement on one row, compiled once for a database and run on the driver's cursor.

    For a read or write of one row by primary key, SQLAlchemy's execution machinery (an
    execution context, result metadata, row objects, events) costs several times what the
    statement does. This keeps what SQLAlchemy contributes, its SQL for the dialect and its
    conversions of parameters and column values, and runs the statement directly.
    """

    def __init__(self, statement: Executable, dialect: Dialect, *, begins: bool = True) -> None:
        # ``begins``: the statement writes or locks, so it begins the write transaction if
        # none is open. (Otherwise it runs in the open one, or with none open on its own.)
        self.begins = begins
        # psycopg prepares a statement on the server by itself only after five runs on a
        # connection, and checks each time whether to; these run on every request.
        self.options = {"prepare": True} if dialect.driver == "psycopg" else {}
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError("a prepared statement cannot expand parameters at run time")
        # qmark/numeric drivers (sqlite3) take a tuple in this order, named ones a dict.
        self.order = compiled.positiontup
        # Each parameter: the key of its value (None: a fixed value, as LIMIT's), its conversion.
        self.binds = {
            name: (
                bind.key if bind.required else None,
                bind.value,
                bind.type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name, bind in compiled.binds.items()
        }
        columns = list(statement.selected_columns) if isinstance(statement, Select) else []
        self.names = [c.name for c in columns]
        self.converters = [
            (i, convert)
            for i, c in enumerate(columns)
            if (convert := c.type.dialect_impl(dialect).result_processor(dialect, None))
        ]

    def _parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        bound = {}
        for name, (key, fixed, convert) in self.binds.items():
            value = values[key] if key is not None else fixed
            bound[name] = convert(value) if convert is not None else value
        return tuple(bound[n] for n in self.order) if self.order is not None else bound

    def _execute(
        self, conn: Connection, cursor: Any, parameters: Any, *, many: bool = False
    ) -> None:
        try:
            if many:
                cursor.executemany(self.sql, parameters)
            else:
                cursor.execute(self.sql, parameters, **self.options)
        except conn.dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy would: a connection the server dropped is not used again.
            if conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor):
                conn.invalidate(exc)
            raise

    def first(self, conn: Connection, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the first row for these parameter values, as a dict, or None."""
        parameters = self._parameters(values)
        first = not conn.in_transaction()  # no statement of a transaction has run before it
        try:
            cursor = dbapi_cursor(conn, begin=self.begins)  # (PostgreSQL: BEGIN is sent here)
            self._execute(conn, cursor, parameters)
        except (conn.dialect.loaded_dbapi.Error, DBAPIError):
            # On a connection the server had dropped (say, a restart since it was last used),
            # a read outside any transaction, or the first statement of one (a write's
            # locked read), is simply run again on a new connection: nothing had been done.
            if not (conn.invalidated and first):
                raise
            if conn.in_transaction():
                conn.rollback()  # what SQLAlchemy needs before it reconnects
            cursor = dbapi_cursor(conn, begin=self.begins)
            self._execute(conn, cursor, parameters)
        try:
            row = cursor.fetchone()
        finally:
            done_with(cursor)
        if row is None:
            return None
        if self.converters:
            row = list(row)
            for i, convert in self.converters:
                row[i] = convert(row[i])
        return dict(zip(self.names, row, strict=True))

    def run(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Execute the statement with these parameter values; return the rows it changed."""
        cursor = dbapi_cursor(conn, begin=self.begins)
        try:
            self._execute(conn, cursor, self._parameters(values))
            return cursor.rowcount
        finally:
            done_with(cursor)

    def run_many(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        """Execute the statement once for each of ``rows`` (one round trip where the driver can)."""
        cursor = dbapi_cursor(conn)
        try:
            self._execute(conn, cursor, [self._parameters(r) for r in rows], many=True)
        finally:
            done_with(cursor)


class Replacing(NamedTuple):
    """What a PUT that replaces a resource reads first (see Store.get_for_replacing)."""

    current: dict[str, Any]
    inherited: dict[str, Any]
    version: str | None  # the row's version, when it was read unlocked to be checked


class Store:
    """The table and child tables of one class."""

    def __init__(self, cls: Class) -> None:
        self.cls = cls
        self.table = TABLES[cls.name]
        self.children = CHILDREN[cls.name]
        self.keys = key_columns(cls)
        self.columns = [c.name for c in self.table.columns]
        self._built: dict[str, dict[str, Any]] = {}
        self._compiled: dict[tuple[str, str], Prepared] = {}
        self._updates: dict[tuple[str, tuple[str, ...], bool], Prepared] = {}
        self._children_sql: dict[tuple[str, str], tuple[Prepared, Prepared]] = {}

    def match(self, keys: Mapping[str, Any]) -> ColumnElement[bool]:
        """Return the condition selecting the row with these key values."""
        return and_(*(self.table.c[k] == keys[k] for k in self.keys))

    def _child_match(self, child: Any, keys: Mapping[str, Any]) -> ColumnElement[bool]:
        return and_(*(child.c[k] == keys[k] for k in self.keys))

    def get(
        self, conn: Connection, keys: Mapping[str, Any], *, lock: bool = False
    ) -> dict[str, Any] | None:
        """Return the resource with these key values, or None (``lock``: for update)."""
        query = self._prepared(conn.dialect, "lock" if lock else "get")
        row = query.first(conn, keys)
        return self._values(row) if row is not None else None

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

    def get_for_replacing(
        self, conn: Connection, keys: Mapping[str, Any], *, lock: bool = True
    ) -> Replacing | None:
        """Return the resource's values, those of :meth:`inherited` and the row's version.

        One statement reads them: a PUT that replaces a resource needs its current values and
        the ones a new resource would start with. ``lock``: the row is locked for update (in
        the write's transaction) and no version is read; else, where the database keeps row
        versions (:func:`has_row_versions`), nothing is locked and the version is read for
        :meth:`update` to check. None when the resource does not exist.
        """
        versioned = not lock and has_row_versions(conn.dialect)
        statement = self._prepared(conn.dialect, "versioned" if versioned else "replace")
        row = statement.first(conn, keys)
        if row is None:
            return None
        given = {}
        if self.cls.name in INHERITED:
            parent_name, columns = INHERITED[self.cls.name]
            parent = store(parent_name)
            for name, column in columns.items():
                value = row.pop(INHERITED_LABEL + name)
                given[name] = _listed(value) if column in parent.children else value
        version = row.pop(VERSION_LABEL) if versioned else None
        return Replacing(self._values(row), given, version)

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
        if not conn.in_transaction():
            conn.begin()
        name = "/".join([self.table.name, *(str(keys[k]) for k in self.keys)])
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))
        return True

    def exists(self, conn: Connection, keys: Mapping[str, Any]) -> bool:
        """Whether a resource with these key values exists."""
        return self._prepared(conn.dialect, "exists").first(conn, keys) is not None

    def _prepared(self, dialect: Dialect, name: str) -> Prepared:
        found = self._compiled.get((dialect.name, name))
        if found is None:
            statement = self._statements(dialect.name)[name]
            found = Prepared(statement, dialect, begins=name in ("lock", "replace"))
            self._compiled[(dialect.name, name)] = found
        return found

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
            if dialect == "postgresql":
                version = _row_version(self.table).label(VERSION_LABEL)
                cached["versioned"] = replace.add_columns(version)
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

    def update(
        self,
        conn: Connection,
        keys: Mapping[str, Any],
        values: Mapping[str, Any],
        current: Mapping[str, Any] | None = None,
        version: str | None = None,
    ) -> bool:
        """Write the given property values of an existing resource; return whether it did.

        Given the ``current`` values, columns and lists that would not change are not written.
        A write that changes only lists still writes the row (a new version of it, so that
        a write checking the version sees it). Given the ``version`` of the row those values
        were read from, the row is written only if it is still that version, and False is
        returned, with nothing written, when it is not. The row is written first: where no
        transaction is open, a write of the row alone is its own transaction.
        """
        if current is not None:
            values = {k: v for k, v in values.items() if k not in current or current[k] != v}
        names = tuple(c for c in self.columns if c in values and c not in self.keys)
        lists = [name for name in self.children if name in values]
        if not names and lists:
            names = (self.keys[-1],)  # (its own key, unchanged)
            values = {**values, self.keys[-1]: keys[self.keys[-1]]}
        if version is not None and lists and not conn.in_transaction():
            conn.begin()  # the row and its lists: one transaction
        if names:
            params = {f"set_{c}": values[c] for c in names}
            params.update({f"key_{k}": keys[k] for k in self.keys})
            if version is not None:
                params[VERSION_LABEL] = version
            statement = self._update_statement(conn.dialect, names, version is not None)
            if statement.run(conn, params) == 0 and version is not None:
                return False
        self._write_children(conn, keys, values, replace=True)
        return True

    def _update_statement(self, dialect: Dialect, names: tuple[str, ...], check: bool) -> Prepared:
        # One prepared UPDATE for each set of columns a caller writes (a handful in practice),
        # with or without the check of the row's version.
        statement = self._updates.get((dialect.name, names, check))
        if statement is None:
            where = [self.table.c[k] == bindparam(f"key_{k}") for k in self.keys]
            if check:
                where.append(_row_version(self.table) == bindparam(VERSION_LABEL))
            update = (
                sql_update(self.table)
                .where(*where)
                .values({c: bindparam(f"set_{c}") for c in names})
            )
            # Checked, it runs in the transaction if one is open, else as one of its own.
            statement = Prepared(update, dialect, begins=not check)
            self._updates[(dialect.name, names, check)] = statement
        return statement

    def _write_children(
        self, conn: Connection, keys: Mapping[str, Any], values: Mapping[str, Any], *, replace: bool
    ) -> None:
        for name in self.children:
            if name not in values:
                continue
            clear, add = self._child_statements(conn.dialect, name)
            if replace:
                clear.run(conn, keys)
            items = [
                {**keys, "position": position, "value": value}
                for position, value in enumerate(values[name])
            ]
            if items:
                add.run_many(conn, items)

    def _child_statements(self, dialect: Dialect, name: str) -> tuple[Prepared, Prepared]:
        # Clearing a row's values of a multi-valued property, and adding one value.
        found = self._children_sql.get((dialect.name, name))
        if found is None:
            child = self.children[name]
            clear = delete(child).where(*(child.c[k] == bindparam(k) for k in self.keys))
            columns = (*self.keys, "position", "value")
            add = insert(child).values({c: bindparam(c) for c in columns})
            found = Prepared(clear, dialect), Prepared(add, dialect)
            self._children_sql[(dialect.name, name)] = found
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
