"""The generic behaviour of a resource: read, create or replace, update, delete.

Every class with a path is served by the same code, configured only by the vocabulary:
request bodies are checked (envelope, read-only values, unknown properties, types, links)
before anything is written, all writes of a request happen in one transaction, and a
rejected request leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request
from marshmallow import ValidationError
from sqlalchemy import ColumnElement, Connection, Table, exists, select
from sqlalchemy.exc import IntegrityError

from app.storage.db import connection
from app.storage.models import CHILDREN, TABLES
from app.storage.store import now, store
from app.web import jsonld, limits, links, responses
from app.web.auth import key_cache
from app.web.caching import check_write, has_preconditions
from app.web.errors import ApiError, bad_request
from app.web.schemas import dumper, schema
from vocab import dlcs
from vocab.context import class_iri
from vocab.model import Class, Prop

BODY_TYPES = (jsonld.JSONLD, jsonld.JSON)
MAX_ID_LENGTH = 255

# What a PUT or PATCH does besides writing the row, when ``when`` holds for the values before
# (None when created) and the body's values: ``run`` runs inside the write's transaction,
# given the key, and returns a follow-up to run after the commit, which may answer with
# another status (202 when ingest was queued).
FollowUp = Callable[[], int | None]
When = Callable[[dict[str, Any] | None, dict[str, Any]], bool]
Run = Callable[[Connection, Mapping[str, Any]], FollowUp]
# Adds the computed (transient) values of a class to rows read from its table.
Compute = Callable[[Connection, list[dict[str, Any]]], None]


@dataclass(frozen=True)
class AfterWrite:
    when: When
    run: Run


@dataclass(frozen=True)
class Behaviour:
    """What the resources of one class do beyond the generic ones; every part is optional.

    A class's behaviour is declared beside the code it names (``app/api/``), and the routes
    hand it to the generic operations here, which take nothing else from outside.
    """

    # Handlers of methods, in place of the generic ones (a Queue's GET, a Reingest's POST).
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    # A POST to the class's collection: how a new resource is keyed.
    create: Handler | None = None
    after_write: AfterWrite | None = None
    # Runs after a DELETE commits (to remove files).
    after_delete: Callable[[Mapping[str, Any]], None] | None = None
    computed: Compute | None = None
    # What is wrong with a body's values beyond their types (a named query's template),
    # checked with the rest of the body before anything is written.
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None
    # Classes whose resources inside one of these must be deleted before it can be.
    blockers: tuple[str, ...] = ()
    # Whether a write or a delete changes what API keys may do (the key cache is emptied).
    credentials: bool = False
    # What limits a collection of the class beyond its path (the customers a caller may see).
    visible: Callable[[Table], list[ColumnElement[bool]]] | None = None


# An operation on a class's resources, given its key values and its behaviour.
Handler = Callable[[Class, Mapping[str, Any], Behaviour], Response]
PLAIN = Behaviour()


def _after_write(
    behaviour: Behaviour, before: dict[str, Any] | None, loaded: dict[str, Any]
) -> AfterWrite | None:
    hook = behaviour.after_write
    return hook if hook is not None and hook.when(before, loaded) else None


def enrich(
    conn: Connection, rows: list[dict[str, Any]], behaviour: Behaviour
) -> list[dict[str, Any]]:
    """Add the computed values of a class (``behaviour``) to ``rows``."""
    if rows and behaviour.computed is not None:
        behaviour.computed(conn, rows)
    return rows


def read(
    conn: Connection, cls: Class, keys: Mapping[str, Any], behaviour: Behaviour = PLAIN
) -> dict[str, Any] | None:
    """Return a resource with its computed values, or None."""
    values = store(cls.name).get(conn, keys)
    return enrich(conn, [values], behaviour)[0] if values is not None else None


# -- rendering ------------------------------------------------------------------------------


def dump(cls: Class, values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the JSON values of a resource's properties."""
    return dumper(cls.name)(values)


def node(cls: Class, values: Mapping[str, Any], *, base: str | None = None) -> dict[str, Any]:
    """Return a resource as a JSON-LD node, without a context (as a collection member).

    ``base``: the base URL, when the caller has it already (once for a page of members).
    """
    iri = links.resource_iri(cls, values, base=base)
    return {"@id": iri, "@type": cls.name, **dump(cls, values)}


def document(cls: Class, values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a resource as a JSON-LD document."""
    return {"@context": jsonld.class_context_url(cls), **node(cls, values)}


# -- reading a request body -----------------------------------------------------------------


def read_body(cls: Class | None = None, iri: str | None = None) -> dict[str, Any]:
    """Return the request body as a JSON object in this API's terms; 415 or 400 when it is none.

    Given the class the body describes, JSON-LD in any form (expanded, or compact with another
    context) and RDF (Turtle, N-Triples, RDF/XML) are brought to the same compact terms.
    """
    accepted = (*BODY_TYPES, *jsonld.RDF_TYPES) if cls is not None else BODY_TYPES
    if request.mimetype and request.mimetype not in accepted:
        raise ApiError(415, f"Send the body as {', '.join(accepted)}, not {request.mimetype}.")
    raw = request.get_data(cache=True)
    # pyld and app.web.rdf are loaded by the first body that needs them, never by compact JSON.
    if cls is not None and request.mimetype in jsonld.RDF_TYPES:
        from app.web import rdf

        return rdf.parse_rdf(raw, request.mimetype, cls, iri)
    body = limits.parse_json(raw, "body") if raw.strip() else None
    if cls is not None and jsonld.needs_normalising(body, cls):
        from app.web import rdf

        body = rdf.normalise(body, cls, iri)
    if not isinstance(body, dict):
        raise bad_request([("body", "must be a JSON object")])
    return body


def _accepted_types(cls: Class) -> set[str]:
    compact = class_iri(cls)
    expanded = compact.replace("vocab:", jsonld.base_url() + "/vocab#", 1)
    return {cls.name, compact, expanded}


def strip_envelope(cls: Class, body: dict[str, Any], iri: str | None) -> list[tuple[str, str]]:
    """Remove ``@context``, ``@id`` and ``@type`` from a body; return what is wrong with them."""
    faults = []
    context = body.pop("@context", None)
    ours = jsonld.class_context_url(cls)
    contexts = context if isinstance(context, list) else [context]
    if context is not None and any(c != ours for c in contexts):
        faults.append(("@context", f"send this API's terms without @context, or with {ours}"))
    given_id = body.pop("@id", None)
    if given_id is not None and iri is not None and given_id != iri:
        faults.append(("@id", f"must be {iri}, the URL the body is sent to"))
    given_type = body.pop("@type", None)
    types = given_type if isinstance(given_type, list) else [given_type]
    named = {t for t in types if isinstance(t, str)}
    if given_type is not None and not named & _accepted_types(cls):
        faults.append(("@type", f"must be {cls.name}"))
    faults.extend((k, "is not a keyword this API accepts") for k in body if k.startswith("@"))
    for key in [k for k in body if k.startswith("@")]:
        del body[key]
    return faults


def _same(prop: Prop, given: Any, stored: Any) -> bool:
    if given == stored:
        return True
    if prop.range == "xsd:dateTime" and isinstance(given, str) and isinstance(stored, str):
        try:
            return dt.datetime.fromisoformat(given) == dt.datetime.fromisoformat(stored)
        except ValueError:
            return False
    return False


def _messages(errors: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(errors, dict):
        for key, value in errors.items():
            inner = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
            yield from _messages(value, inner)
    elif isinstance(errors, list):
        for message in errors:
            yield from _messages(message, path)
    else:
        yield path or "body", str(errors)


def validate(
    cls: Class, body: dict[str, Any], stored: Mapping[str, Any], *, partial: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check a body against ``cls``: return the loaded writable values and the faults.

    Read-only properties may be sent only with the value they already have (``stored``,
    as JSON), so a document fetched with GET can be sent back unchanged.
    """
    given = take_readonly(cls, body)
    loaded, faults = load(cls, body, partial=partial)
    return loaded, readonly_faults(cls, given, stored) + faults


def take_readonly(cls: Class, body: dict[str, Any]) -> dict[str, Any]:
    """Remove the read-only properties from a body and return them."""
    return {n: body.pop(n) for n in [n for n in body if cls.has(n) and cls.prop(n).readonly]}


def readonly_faults(
    cls: Class, given: Mapping[str, Any], stored: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Return a fault for each read-only value sent that differs from the stored one."""
    return [
        (name, "is read-only; it may only be sent with its current value")
        for name, value in given.items()
        if value is not None and not _same(cls.prop(name), value, stored.get(name))
    ]


def load(
    cls: Class, body: dict[str, Any], *, partial: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Load the writable properties of a body with the class's schema; return them and faults."""
    try:
        return schema(cls.name, partial=partial).load(body), []
    except ValidationError as exc:
        return {}, list(_messages(exc.messages, ""))


def resolve_links(
    conn: Connection, cls: Class, loaded: dict[str, Any], scope: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Replace the link IRIs in ``loaded`` by the keys they name; return the faults."""
    faults = []
    for prop in cls.properties:
        if not prop.link or prop.is_derived or prop.name not in loaded:
            continue
        target = dlcs.get(prop.range)
        values = loaded[prop.name] if prop.multiple else [loaded[prop.name]]
        resolved: list[Any] = []
        for position, value in enumerate(values):
            where = f"{prop.name}[{position}]" if prop.multiple else prop.name
            key, fault = _resolve(conn, target, value, scope)
            if fault:
                faults.append((where, fault))
            elif key not in resolved:
                resolved.append(key)
        loaded[prop.name] = resolved if prop.multiple else (resolved[0] if resolved else None)
    return faults


def _resolve(
    conn: Connection, target: Class, value: str, scope: Mapping[str, Any]
) -> tuple[Any, str | None]:
    found = links.parse(value, target.path or "")
    if found is None:
        example = links.example(target.path or "", scope)
        return None, f"must be the IRI of a {target.name} on this server, such as {example}"
    *parents, last = target.path_variables
    for name in parents:
        if name in scope and found[name] != scope[name]:
            return None, f"must be a {target.name} of {name} {scope[name]}"
    if not store(target.name).exists(conn, found):
        return None, f"{value} does not exist"
    return found[last], None


def checked(behaviour: Behaviour, loaded: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return what a class's own check finds wrong with a body's loaded values."""
    return behaviour.check(loaded) if behaviour.check is not None else []


# -- the operations -------------------------------------------------------------------------


def check_parent(conn: Connection, cls: Class, keys: Mapping[str, Any]) -> None:
    """Fail with 404 when the resource the new one would belong to does not exist."""
    parent = dlcs.parent_of(cls)
    if parent is not None and not store(parent.name).exists(conn, keys):
        raise ApiError(404, f"{parent.name} {links.resource_iri(parent, keys)} does not exist.")


def not_found(cls: Class, keys: Mapping[str, Any]) -> ApiError:
    """Return the 404 error of a resource that does not exist."""
    return ApiError(404, f"{cls.name} {links.resource_iri(cls, keys)} does not exist.")


# Path segments that URL normalisation removes (RFC 3986, 5.2.4): no URL names them.
DOT_SEGMENTS = frozenset({".", ".."})


def valid_identifier(value: Any) -> bool:
    """Whether an identifier from the URL can name a resource."""
    return not isinstance(value, str) or (
        len(value) <= MAX_ID_LENGTH
        and not any(ord(ch) < 32 for ch in value)
        and value not in DOT_SEGMENTS
    )


IDENTIFIER_RULE = (
    f"an identifier has at most {MAX_ID_LENGTH} printable characters and is not . or .."
)


def check_identifier(value: Any) -> None:
    """Fail with 400 when an identifier from the URL cannot name a resource."""
    if not valid_identifier(value):
        raise bad_request([("@id", IDENTIFIER_RULE)])


def new_values(
    conn: Connection,
    cls: Class,
    keys: Mapping[str, Any],
    inherited: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the values of a resource before a body is applied: keys and defaults.

    The defaults include those it takes from its parent (an image: its space's), read unless
    given as ``inherited``.
    """
    values = {p.name: p.default for p in cls.stored if not p.identifier and not p.readonly}
    values.update({p.name: p.default for p in cls.stored if p.readonly and p.default is not None})
    for name in values:
        if isinstance(values[name], tuple):
            values[name] = list(values[name])
    values.update(store(cls.name).inherited(conn, keys) if inherited is None else inherited)
    values.update(keys)
    last = cls.path_variables[-1] if cls.path_variables else ""
    for prop in cls.stored:
        if prop.default_key and last in keys:
            values[prop.name] = str(keys[last])
    return values


def writable(cls: Class, fresh: Mapping[str, Any]) -> dict[str, Any]:
    """Return the values a PUT gives the writable properties it leaves out (from new_values)."""
    return {
        p.name: fresh.get(p.name)
        for p in cls.stored
        if not p.readonly and not p.identifier and not p.transient
    }


def get(cls: Class, keys: Mapping[str, Any], behaviour: Behaviour = PLAIN) -> Response:
    """Answer a GET of one resource."""
    values = read(connection(), cls, keys, behaviour)
    if values is None:
        raise not_found(cls, keys)
    return responses.response(document(cls, values))


def put(cls: Class, keys: Mapping[str, Any], behaviour: Behaviour = PLAIN) -> Response:
    """Answer a PUT: create the resource (201) or replace its writable properties (200).

    One sequence: read and check the body, read the resource locked, check, write, commit. Two
    PUTs creating one resource cannot both insert it (no retry is needed): on SQLite writers
    take turns from their first statement, on PostgreSQL a creator locks the key first
    (:meth:`app.storage.store.Store.lock_key`) and looks again.
    """
    conn = connection()
    for value in keys.values():
        check_identifier(value)
    iri = links.resource_iri(cls, keys)
    # What the body says on its own is checked before the write transaction begins, so the
    # transaction (which holds SQLite's single write lock) stays short.
    body = read_body(cls, iri)
    faults = strip_envelope(cls, body, iri)
    given_readonly = take_readonly(cls, body)
    loaded, body_faults = load(cls, body, partial=False)
    # The resource, locked, and the values a new one starts with (an image: its space's
    # defaults), which a replacement gives the writable properties it leaves out.
    found = store(cls.name).get_for_replacing(conn, keys)
    if found is None and store(cls.name).lock_key(conn, keys):
        # Creating it: in turn with whoever else creates or deletes it, look again.
        found = store(cls.name).get_for_replacing(conn, keys)
    if found is None:
        current = None
        check_parent(conn, cls, keys)
        fresh = new_values(conn, cls, keys)
    else:
        current, inherited = found
        fresh = new_values(conn, cls, keys, inherited)
    check_write(_current_document(conn, cls, current, behaviour))
    base = current if current is not None else fresh
    if given_readonly:
        faults += readonly_faults(cls, given_readonly, dump(cls, base))
    faults += body_faults + checked(behaviour, loaded) + resolve_links(conn, cls, loaded, keys)
    if faults:
        raise bad_request(faults)
    hook = _after_write(behaviour, current, loaded)
    try:
        if current is None:
            written = {**base, **loaded, "created": now()}
            store(cls.name).insert(conn, written)
        else:
            changes = {**writable(cls, fresh), **loaded}
            store(cls.name).update(conn, keys, changes, current)
            written = {**current, **changes}
        follow_up = hook.run(conn, keys) if hook is not None else None
        conn.commit()
    except IntegrityError as exc:
        conn.rollback()
        raise ApiError(409, f"Another {cls.name} has these values already.") from exc
    status = follow_up() if follow_up else None
    # What was just written is what a read would return, unless ingest changed it since.
    values: dict[str, Any] | None = written
    if follow_up is not None or behaviour.computed is not None:
        values = read(conn, cls, keys, behaviour)
    assert values is not None
    doc = document(cls, values)
    headers = accepted_headers(status)
    if current is None:
        return responses.response(doc, status or 201, {"Location": doc["@id"], **headers})
    return responses.response(doc, status or 200, headers)


ASYNC = "respond-async"


def wants_async() -> bool:
    """Whether the request asked to be answered before ingest finishes (RFC 7240)."""
    preferences = ",".join(request.headers.getlist("Prefer")).lower()
    return any(p.split("=")[0].strip() == ASYNC for p in preferences.replace(";", ",").split(","))


def accepted_headers(status: int | None) -> dict[str, str]:
    """Return the headers of an answer: Preference-Applied when a 202 honoured the Prefer."""
    return {"Preference-Applied": ASYNC} if status == 202 and wants_async() else {}


def create(
    cls: Class,
    keys: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    behaviour: Behaviour = PLAIN,
) -> Response:
    """Answer a POST to a collection: create a resource with a key the database assigns."""
    conn = connection()
    check_parent(conn, cls, keys)
    body = read_body(cls)
    faults = strip_envelope(cls, body, None)
    base = new_values(conn, cls, keys)
    loaded, more = validate(cls, body, dump(cls, base), partial=False)
    faults += more + checked(behaviour, loaded) + resolve_links(conn, cls, loaded, keys)
    if faults:
        raise bad_request(faults)
    values = {**base, **loaded, **(extra or {}), "created": now()}
    try:
        new_keys = store(cls.name).insert(conn, values)
        conn.commit()
    except IntegrityError as exc:
        conn.rollback()
        raise ApiError(409, f"A {cls.name} with these values exists already.") from exc
    created = read(conn, cls, new_keys, behaviour)
    assert created is not None
    doc = document(cls, created)
    return responses.response(doc, 201, {"Location": doc["@id"]})


def _existing(
    conn: Connection, cls: Class, keys: Mapping[str, Any], behaviour: Behaviour
) -> dict[str, Any]:
    """Return the resource a write changes, locked for it; 404, or 412 for a stale If-Match."""
    current = store(cls.name).get(conn, keys, lock=True)
    if current is None:
        raise not_found(cls, keys)
    check_write(_current_document(conn, cls, current, behaviour))
    return current


def patch(cls: Class, keys: Mapping[str, Any], behaviour: Behaviour = PLAIN) -> Response:
    """Answer a PATCH: change only the properties the body carries."""
    conn = connection()
    iri = links.resource_iri(cls, keys)
    # The whole body is read and checked before the row is locked: a client that is slow to
    # send it holds no lock (on SQLite, the one write lock of every tenant).
    body = read_body(cls, iri)
    faults = strip_envelope(cls, body, iri)
    given_readonly = take_readonly(cls, body)
    loaded, body_faults = load(cls, body, partial=True)
    current = _existing(conn, cls, keys, behaviour)
    faults += readonly_faults(cls, given_readonly, dump(cls, current)) + body_faults
    faults += checked(behaviour, loaded)
    faults += resolve_links(conn, cls, loaded, keys)
    if faults:
        raise bad_request(faults)
    follow_up = None
    if loaded:
        try:
            store(cls.name).update(conn, keys, loaded, current)
            hook = _after_write(behaviour, current, loaded)
            follow_up = hook.run(conn, keys) if hook is not None else None
            conn.commit()
        except IntegrityError as exc:
            conn.rollback()
            raise ApiError(409, f"Another {cls.name} has these values already.") from exc
        if behaviour.credentials:  # (a customer's administrator flag may have changed)
            key_cache().clear()
    status = follow_up() if follow_up else None
    values = read(conn, cls, keys, behaviour)
    assert values is not None
    return responses.response(document(cls, values), status or 200, accepted_headers(status))


def _current_document(
    conn: Connection, cls: Class, current: dict[str, Any] | None, behaviour: Behaviour
) -> dict[str, Any] | None:
    if current is None or not has_preconditions():
        return current  # nothing to compare: skip rendering
    return document(cls, enrich(conn, [dict(current)], behaviour)[0])


def blockers(
    conn: Connection, cls: Class, keys: Mapping[str, Any], behaviour: Behaviour
) -> list[str]:
    """Return what still depends on a resource: resources inside it, and links to it."""
    found = []
    for name in behaviour.blockers:
        table = TABLES[name]
        condition = [table.c[k] == keys[k] for k in cls.path_variables]
        if conn.execute(select(exists().where(*condition))).scalar():
            found.append(f"it still holds {name} resources")
    *parents, last = cls.path_variables
    for owner in dlcs.CLASSES:
        for prop in owner.properties:
            if prop.link and prop.range == cls.name and prop.is_stored:
                found.extend(_referrers(conn, owner, prop, parents, keys, last))
    return found


def _referrers(
    conn: Connection,
    owner: Class,
    prop: Prop,
    parents: list[str],
    keys: Mapping[str, Any],
    last: str,
) -> list[str]:
    table = CHILDREN[owner.name][prop.name] if prop.multiple else TABLES[owner.name]
    column = table.c.value if prop.multiple else table.c[prop.name]
    condition = [table.c[k] == keys[k] for k in parents if k in table.c]
    condition.append(column == keys[last])
    if conn.execute(select(exists().where(*condition))).scalar():
        return [f"the {prop.name} of {owner.name} resources still name it"]
    return []


def delete(cls: Class, keys: Mapping[str, Any], behaviour: Behaviour = PLAIN) -> Response:
    """Answer a DELETE: remove the resource unless others depend on it (409)."""
    conn = connection()
    store(cls.name).lock_key(conn, keys)  # (in turn with those that create it: see put)
    _existing(conn, cls, keys, behaviour)
    reasons = blockers(conn, cls, keys, behaviour)
    if reasons:
        raise ApiError(409, f"{cls.name} cannot be deleted: {'; '.join(reasons)}.")
    store(cls.name).delete(conn, keys)
    conn.commit()
    if behaviour.credentials:  # a deleted key must stop working here at once
        key_cache().clear()
    if behaviour.after_delete is not None:
        behaviour.after_delete(keys)
    operation = next(op for op in cls.operations if op.method == "DELETE")
    return responses.empty(operation.statuses[0].code)
