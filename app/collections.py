"""Paged Hydra collections: parameters checked, filters and order in SQL, views to follow.

Paging, filtering and counting run in the database (LIMIT/OFFSET on an indexed order);
only the rows of the requested page are read. Every parameter is validated: a value that
is not understood is a 400 naming it, never a 500 and never silently ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from flask import Response, request
from sqlalchemy import ColumnElement, exists

from app import jsonld
from app.db import connection
from app.errors import bad_request
from app.models import CHILDREN, column_name
from app.resources import enrich, node
from app.store import store
from vocab import dlcs
from vocab.model import Class, Prop

PAGING = (dlcs.PAGE, dlcs.PAGE_SIZE)
MAX_PAGE = 10**9
_BOOLEAN = Prop(
    "flag", "xsd:boolean", "a yes-or-no filter"
)  # keeps OFFSET within what every database accepts
ORDERING = (dlcs.ORDER_BY, dlcs.ORDER_BY_DESCENDING)


def _positive(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request([(name, f"must be a positive integer, not {raw!r}")])
    value = int(raw)
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
            text = raw[1:] if raw.startswith("-") else raw
            value = int(raw) if text.isdigit() and len(text) < 19 else None
        if value is None or (kind == "xsd:nonNegativeInteger" and value < 0):
            adjective = "non-negative " if kind == "xsd:nonNegativeInteger" else ""
            raise bad_request([(where, f"must be a {adjective}integer, not {raw!r}")])
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
        raw = request.args.get(extra.name)
        if raw is not None:
            flag = _parse(_BOOLEAN, raw, extra.name, from_json=False)
            wanted.setdefault(extra.name, []).append(flag)
    raw_q = request.args.get(dlcs.QUERY)
    if raw_q is not None:
        try:
            query = json.loads(raw_q)
        except ValueError as exc:
            raise bad_request([(dlcs.QUERY, f"must be a JSON object: {exc}")]) from exc
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


def _conditions(member: Class, wanted: dict[str, list[Any]]) -> list[ColumnElement[bool]]:
    target = store(member.name)
    conditions = []
    extras = {f.name: f for f in member.filters}
    for name, values in wanted.items():
        if name in extras:
            column = target.table.c[extras[name].prop]
            conditions.extend((column != "") if v else (column == "") for v in values)
            continue
        prop = member.prop(name)
        if prop.multiple:
            child = CHILDREN[member.name][name]
            link = [child.c[k] == target.table.c[k] for k in target.keys]
            conditions.extend(exists().where(*link, child.c.value == v) for v in values)
        else:
            column = target.table.c[column_name(member, prop)]
            conditions.extend(column == v for v in values)
    return conditions


def _order(member: Class) -> list[Any]:
    by, descending = request.args.get(dlcs.ORDER_BY), request.args.get(dlcs.ORDER_BY_DESCENDING)
    if by is not None and descending is not None:
        raise bad_request([(dlcs.ORDER_BY, f"give {dlcs.ORDER_BY} or {dlcs.ORDER_BY_DESCENDING}")])
    name = by if by is not None else descending
    table = store(member.name).table
    orderable = [p.name for p in member.properties if p.orderable]
    if name is not None and name not in orderable:
        where = dlcs.ORDER_BY if by is not None else dlcs.ORDER_BY_DESCENDING
        choices = ", ".join(orderable) or "nothing"
        raise bad_request([(where, f"{member.name} collections can be ordered by {choices}")])
    names = [name] if name else list(member.default_order)
    columns = [table.c[column_name(member, member.prop(n))] for n in names]
    columns += [table.c[k] for k in store(member.name).keys]
    return [c.desc() for c in columns] if descending is not None else columns


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
    variables = ",".join(m["variable"] for m in mapping)
    return {
        "@type": "IriTemplate",
        "template": f"{path_url}{{?{variables}}}",
        "variableRepresentation": "BasicRepresentation",
        "mapping": mapping,
    }


def listing(member: Class, where: Iterable[ColumnElement[bool]] = ()) -> Response:
    """Answer a GET of a collection of ``member`` resources meeting ``where``."""
    page = _positive(dlcs.PAGE, 1, MAX_PAGE)
    size = _positive(dlcs.PAGE_SIZE, dlcs.DEFAULT_PAGE_SIZE, dlcs.MAX_PAGE_SIZE)
    conditions = [*where, *_conditions(member, _requested_filters(member))]
    order = _order(member)
    conn = connection()
    target = store(member.name)
    total = target.count(conn, conditions)
    query = target.select().where(*conditions).order_by(*order)
    rows = enrich(conn, member, target.fetch(conn, query.limit(size).offset((page - 1) * size)))
    return jsonld.response(collection_document(member, rows, total, page, size))


def collection_document(
    member: Class, rows: list[dict[str, Any]], total: int, page: int, size: int
) -> dict[str, Any]:
    """Return the JSON-LD of one page of a collection."""
    path_url = jsonld.base_url() + request.path
    args = list(request.args.items(multi=True))
    kept = [(k, v) for k, v in args if k != dlcs.PAGE]
    identity = [(k, v) for k, v in kept if k not in (dlcs.PAGE_SIZE, *ORDERING)]
    last = max(1, math.ceil(total / size))

    def page_url(number: int) -> str:
        return _url(path_url, [*kept, (dlcs.PAGE, number)])

    if dlcs.PAGE in request.args:
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
        view["previous"] = page_url(min(page - 1, last))
    if page < last:
        view["next"] = page_url(page + 1)
    return {
        "@context": jsonld.class_context_url(member),
        "@id": _url(path_url, identity),
        "@type": "Collection",
        "memberAssertion": {"property": "rdf:type", "object": member.name},
        "totalItems": total,
        "member": [node(member, row) for row in rows],
        "view": view,
        "search": search_template(member, path_url),
    }
