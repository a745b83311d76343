"""Paged Hydra collections: parameters checked, filters and order in SQL, views to follow.

Paging, filtering and counting run in the database (LIMIT/OFFSET on an indexed order);
only the rows of the requested page are read. Every parameter is validated: a value that
is not understood is a 400 naming it, never a 500 and never silently ignored.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, request
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    and_,
    func,
    literal,
    select,
)
from sqlalchemy import tuple_ as sql_tuple

from app.resources import PLAIN, Behaviour, enrich, node
from app.storage.db import connection
from app.storage.models import CHILDREN, COUNTED, MAX_INTEGER, column_name
from app.storage.store import store
from app.web import jsonld, limits, responses
from app.web.errors import bad_request
from vocab import dlcs
from vocab.model import Class, Prop

PAGING = (dlcs.PAGE, dlcs.PAGE_SIZE)
AFTER, BEFORE = dlcs.AFTER, dlcs.BEFORE
MAX_PAGE = 10**9
_BOOLEAN = Prop(
    "flag", "xsd:boolean", "a yes-or-no filter"
)  # keeps OFFSET within what every database accepts
ORDERING = (dlcs.ORDER_BY, dlcs.ORDER_BY_DESCENDING)


def _positive(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = limits.integer(raw)
    if value is None or value < 1 or raw.startswith("+"):
        raise bad_request([(name, f"must be a positive integer, not {raw[:40]!r}")])
    if maximum is not None and value > maximum:
        raise bad_request([(name, f"must be at most {maximum}")])
    return value


def _parse(prop: Prop, raw: Any, where: str, *, from_json: bool) -> Any:
    """Return a filter value of ``prop`` from a query string (or a ``q`` JSON value)."""
    kind = prop.range
    if kind in ("xsd:integer", "xsd:nonNegativeInteger"):
        if from_json:
            ok = isinstance(raw, int) and not isinstance(raw, bool)
            value = raw if ok else None
        else:
            value = limits.integer(raw)
        if value is not None and abs(value) > MAX_INTEGER:
            value = None
        if value is None or (kind == "xsd:nonNegativeInteger" and value < 0):
            adjective = "non-negative " if kind == "xsd:nonNegativeInteger" else ""
            shown = raw[:40] if isinstance(raw, str) else raw
            raise bad_request([(where, f"must be a {adjective}integer, not {shown!r}")])
        return value
    if kind == "xsd:boolean":
        if from_json and isinstance(raw, bool):
            return raw
        if not from_json and raw in ("true", "false"):
            return raw == "true"
        raise bad_request([(where, f"must be true or false, not {raw!r}")])
    if not isinstance(raw, str) or "\x00" in raw:
        raise bad_request([(where, f"must be a string, not {raw!r}")])
    if prop.choices and raw not in prop.choices:
        raise bad_request([(where, f"must be one of {', '.join(prop.choices)}, not {raw!r}")])
    return raw


def _requested_filters(member: Class) -> dict[str, list[Any]]:
    wanted: dict[str, list[Any]] = {}
    for prop in member.properties:
        if not prop.filterable:
            continue
        for raw in request.args.getlist(prop.name):
            pieces = [p for p in raw.split(",") if p] if prop.multiple else [raw]
            for piece in pieces:
                wanted.setdefault(prop.name, []).append(
                    _parse(prop, piece, prop.name, from_json=False)
                )
    for extra in member.filters:
        given = request.args.get(extra.name)
        if given is not None:
            flag = _parse(_BOOLEAN, given, extra.name, from_json=False)
            wanted.setdefault(extra.name, []).append(flag)
    raw_q = request.args.get(dlcs.QUERY)
    if raw_q is not None:
        query = limits.parse_json(raw_q, dlcs.QUERY)
        if not isinstance(query, dict):
            raise bad_request([(dlcs.QUERY, "must be a JSON object")])
        for name, raw in query.items():
            where = f"{dlcs.QUERY}.{name}"
            if not member.has(name) or not member.prop(name).filterable:
                raise bad_request([(where, f"is not a filter of {member.name} collections")])
            prop = member.prop(name)
            items = raw if prop.multiple and isinstance(raw, list) else [raw]
            for item in items:
                wanted.setdefault(name, []).append(_parse(prop, item, where, from_json=True))
    return wanted


def _check_count(wanted: dict[str, list[Any]]) -> None:
    limit = int(current_app.config["MAX_FILTER_VALUES"])
    given = sum(len(values) for values in wanted.values())
    if given > limit:
        where = ", ".join(wanted)
        raise bad_request(
            [(where, f"{given} filter values; at most {limit} (DLCS_MAX_FILTER_VALUES)")]
        )


def _conditions(
    member: Class, scope: Mapping[str, Any], wanted: dict[str, list[Any]]
) -> list[ColumnElement[bool]]:
    target = store(member.name)
    conditions: list[ColumnElement[bool]] = []
    extras = {f.name: f for f in member.filters}
    for name, values in wanted.items():
        if name in extras:
            column = target.table.c[extras[name].prop]
            conditions.extend((column != "") if v else (column == "") for v in values)
            continue
        prop = member.prop(name)
        if prop.multiple:
            conditions.append(_carrying_all(member, scope, name, values))
        else:
            column = target.table.c[column_name(member, prop)]
            conditions.extend(column == v for v in values)
    return conditions


def _carrying_all(
    member: Class, scope: Mapping[str, Any], name: str, values: list[Any]
) -> ColumnElement[bool]:
    """Return the condition "carries every one of ``values``" on a multi-valued property.

    One grouped query on the values' index, however many values there are (a subquery per
    value made the planner's work grow much faster than their number).
    """
    target, child = store(member.name), CHILDREN[member.name][name]
    wanted = list(dict.fromkeys(values))
    keys = [child.c[k] for k in target.keys]
    carrying = (
        select(*keys)
        .where(*(child.c[k] == v for k, v in scope.items()), child.c.value.in_(wanted))
        .group_by(*keys)
        .having(func.count(child.c.value.distinct()) == len(wanted))
    )
    return sql_tuple(*(target.table.c[k] for k in target.keys)).in_(carrying)


class Ordering:
    """The order of a collection's rows, and keyset cursors for paging through it."""

    def __init__(self, member: Class, scope: Mapping[str, Any]) -> None:
        by = request.args.get(dlcs.ORDER_BY)
        descending = request.args.get(dlcs.ORDER_BY_DESCENDING)
        if by is not None and descending is not None:
            raise bad_request(
                [(dlcs.ORDER_BY, f"give {dlcs.ORDER_BY} or {dlcs.ORDER_BY_DESCENDING}")]
            )
        name = by if by is not None else descending
        orderable = [p.name for p in member.properties if p.orderable]
        if name is not None and name not in orderable:
            where = dlcs.ORDER_BY if by is not None else dlcs.ORDER_BY_DESCENDING
            choices = ", ".join(orderable) or "nothing"
            raise bad_request([(where, f"{member.name} collections can be ordered by {choices}")])
        table = store(member.name).table
        names = [name] if name else list(member.default_order)
        names = [column_name(member, member.prop(n)) for n in names]
        # The key breaks ties; key columns the scope fixes add nothing to the order.
        names += [k for k in store(member.name).keys if k not in scope]
        self.names = list(dict.fromkeys(names))
        self.columns = [table.c[n] for n in self.names]
        # NULLs sort differently on each database: order a nullable column by a stand-in.
        self.expressions = [
            func.coalesce(c, literal(_lowest(c), type_=c.type)) if c.nullable else c
            for c in self.columns
        ]
        self.descending = descending is not None

    def order_by(self, *, reverse: bool = False) -> list[Any]:
        """Return the ORDER BY clauses (``reverse`` for reading a page from its end)."""
        down = self.descending != reverse
        return [e.desc() if down else e.asc() for e in self.expressions]

    def token(self, row: Mapping[str, Any]) -> str:
        """Return the cursor of a row: where the next (or previous) page starts."""
        values = [
            row[n] if row[n] is not None else _lowest(c)
            for n, c in zip(self.names, self.columns, strict=True)
        ]
        return encode_cursor(values)

    def beyond(self, token: str, param: str, *, backwards: bool) -> ColumnElement[bool]:
        """Return the condition of the rows after (or before) a cursor."""
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            raw = json.loads(text)
            assert isinstance(raw, list) and len(raw) == len(self.columns)
            values = [_typed(c, v) for c, v in zip(self.columns, raw, strict=True)]
        except Exception as exc:
            raise bad_request([(param, "is not a cursor this collection issued")]) from exc
        row = sql_tuple(*self.expressions)
        mark = sql_tuple(
            *(literal(v, type_=c.type) for c, v in zip(self.columns, values, strict=True))
        )
        return row < mark if self.descending != backwards else row > mark


def encode_cursor(values: Iterable[Any]) -> str:
    """Return the opaque cursor of a row's order values."""
    text = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _lowest(column: Any) -> Any:
    if isinstance(column.type, DateTime):
        return dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    if isinstance(column.type, (Integer, BigInteger)):
        return -(2**62)
    return ""


def _typed(column: Any, value: Any) -> Any:
    if isinstance(column.type, DateTime):
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if isinstance(column.type, (Integer, BigInteger)):
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INTEGER:
            raise ValueError(value)
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _url(path_url: str, params: Iterable[tuple[str, Any]]) -> str:
    query = urlencode(list(params))
    return f"{path_url}?{query}" if query else path_url


def search_template(member: Class, path_url: str) -> dict[str, Any]:
    """Return the IriTemplate of a collection's filters, paging and ordering."""
    mapping = [
        {"@type": "IriTemplateMapping", "variable": p.name, "property": p.name, "required": False}
        for p in member.properties
        if p.filterable
    ]
    mapping += [
        {"@type": "IriTemplateMapping", "variable": f.name, "property": f.prop, "required": False}
        for f in member.filters
    ]
    if any(p.filterable for p in member.properties):
        mapping.append({"@type": "IriTemplateMapping", "variable": dlcs.QUERY, "required": False})
    mapping += [
        {
            "@type": "IriTemplateMapping",
            "variable": dlcs.PAGE,
            "property": "hydra:pageIndex",
            "required": False,
        },
        {
            "@type": "IriTemplateMapping",
            "variable": dlcs.PAGE_SIZE,
            "property": "hydra:limit",
            "required": False,
        },
    ]
    if any(p.orderable for p in member.properties):
        mapping += [
            {"@type": "IriTemplateMapping", "variable": v, "required": False} for v in ORDERING
        ]
    variables = ",".join(str(m["variable"]) for m in mapping)
    return {
        "@type": "IriTemplate",
        "template": f"{path_url}{{?{variables}}}",
        "variableRepresentation": "BasicRepresentation",
        "mapping": mapping,
    }


def _count(member: Class, scope: Mapping[str, Any], conditions: list[Any], plain: bool) -> int:
    """Count a collection: from the kept counter when it is a whole space or customer."""
    conn = connection()
    if plain and member.name in COUNTED:
        parent_name, column = COUNTED[member.name]
        parent = store(parent_name)
        if set(scope) <= set(parent.keys):
            counter = parent.table.c[column]
            query = select(func.coalesce(func.sum(counter), 0)).where(
                *(parent.table.c[k] == v for k, v in scope.items())
            )
            return int(conn.execute(query).scalar_one())
    return store(member.name).count(conn, conditions)


def listing(member: Class, scope: Mapping[str, Any], behaviour: Behaviour = PLAIN) -> Response:
    """Answer a GET of a collection of ``member`` resources whose columns match ``scope``.

    ``page`` alone is read with an OFFSET from whichever end of the collection is nearer;
    the ``next`` and ``previous`` links carry keyset cursors (``after``, ``before``), so
    following them costs the same on page 10,000 as on page 1.
    """
    page = _positive(dlcs.PAGE, 1, MAX_PAGE)
    size = _positive(dlcs.PAGE_SIZE, dlcs.DEFAULT_PAGE_SIZE, dlcs.MAX_PAGE_SIZE)
    target = store(member.name)
    extra = behaviour.visible(target.table) if behaviour.visible is not None else []
    wanted = _requested_filters(member)
    _check_count(wanted)
    filters = _conditions(member, scope, wanted)
    conditions = [*(target.table.c[k] == v for k, v in scope.items()), *extra, *filters]
    ordering = Ordering(member, scope)
    after, before = request.args.get(AFTER), request.args.get(BEFORE)
    if after is not None and before is not None:
        raise bad_request([(AFTER, f"give {AFTER} or {BEFORE}, not both")])
    total = _count(member, scope, conditions, plain=not (extra or filters))
    last = max(1, math.ceil(total / size))
    # Choose the page's keys first, then read whole resources for those rows only: the
    # multi-valued properties are then aggregated for this page, never for skipped rows.
    keys = select(*(target.table.c[k] for k in target.keys)).where(*conditions)
    reverse = False
    if after is not None:
        keys = keys.where(ordering.beyond(after, AFTER, backwards=False))
        keys = keys.order_by(*ordering.order_by()).limit(size)
    elif before is not None:
        keys = keys.where(ordering.beyond(before, BEFORE, backwards=True))
        keys = keys.order_by(*ordering.order_by(reverse=True)).limit(size)
        reverse = True
    elif page > last / 2 and page <= last:
        # Nearer the end: read backwards, so the OFFSET stays small.
        remaining = total - (page - 1) * size
        keys = keys.order_by(*ordering.order_by(reverse=True))
        keys = keys.limit(min(size, remaining)).offset(max(0, total - page * size))
        reverse = True
    else:
        keys = keys.order_by(*ordering.order_by()).limit(size).offset((page - 1) * size)
    chosen = keys.subquery()
    joined = and_(*(target.table.c[k] == chosen.c[k] for k in target.keys))
    query = target.select(connection().dialect.name).join_from(target.table, chosen, joined)
    query = query.order_by(*ordering.order_by(reverse=reverse))
    rows = target.fetch(connection(), query)
    if reverse:
        rows.reverse()
    rows = enrich(connection(), rows, behaviour)
    return responses.response(collection_document(member, rows, total, page, size, ordering))


def collection_document(
    member: Class,
    rows: list[dict[str, Any]],
    total: int,
    page: int,
    size: int,
    ordering: Ordering,
) -> dict[str, Any]:
    """Return the JSON-LD of one page of a collection."""
    base = jsonld.base_url()
    path_url = base + request.path
    args = list(request.args.items(multi=True))
    kept = [(k, v) for k, v in args if k not in (dlcs.PAGE, AFTER, BEFORE)]
    identity = [(k, v) for k, v in kept if k not in (dlcs.PAGE_SIZE, *ORDERING)]
    last = max(1, math.ceil(total / size))

    def page_url(number: int, *cursor: tuple[str, str]) -> str:
        return _url(path_url, [*kept, (dlcs.PAGE, number), *cursor])

    # The view is the page as it was asked for: a client (Alcaeus) takes the collection as
    # the root of what it fetched by finding the view whose @id is that URL. Only the bare
    # collection URL, which is the collection's own @id, names its first page canonically.
    if request.query_string:
        view_id = f"{path_url}?{request.query_string.decode()}"
    else:
        view_id = page_url(page)
    view: dict[str, Any] = {
        "@id": view_id,
        "@type": "PartialCollectionView",
        "first": page_url(1),
        "last": page_url(last),
    }
    if page > 1:
        if rows and page <= last:
            view["previous"] = page_url(page - 1, (BEFORE, ordering.token(rows[0])))
        else:
            view["previous"] = page_url(min(page - 1, last))
    if page < last and rows:
        view["next"] = page_url(page + 1, (AFTER, ordering.token(rows[-1])))
    return {
        "@context": jsonld.class_context_url(member),
        "@id": _url(path_url, identity),
        "@type": "Collection",
        "memberAssertion": {"property": "rdf:type", "object": member.name},
        "totalItems": total,
        "member": [node(member, row, base=base) for row in rows],
        "view": view,
        "search": search_template(member, path_url),
    }
