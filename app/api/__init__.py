"""The HTTP API: routes generated from the vocabulary's paths and operations.

Every class with a path gets one URL rule whose methods are its declared operations, and
every link to a collection gets one for its own operations, so the routes, the
documentation and the API cannot disagree. Only what is particular to a resource (how a
new Customer, Space or Key is numbered) is written out, in :mod:`app.api.creation`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from flask import Blueprint, Flask, Response, request
from werkzeug.routing import IntegerConverter

from app import resources
from app.api import discovery
from app.api.behaviours import behaviour_of
from app.resources.collections import listing
from app.storage.models import MAX_INTEGER
from app.storage.store import store
from app.web import auth
from app.web.errors import bad_request
from vocab import dlcs
from vocab.model import Class, Operation, Prop, path_variables

# Numbers in paths stop at what a BIGINT key holds: a larger one names nothing (404).
_CONVERTERS = {"xsd:nonNegativeInteger": f"digits(max={MAX_INTEGER})", "xsd:string": "string"}


class DigitsConverter(IntegerConverter):
    """A number written in ASCII digits only.

    Werkzeug's ``int`` matches any Unicode digit (``\\d``), so ``/spaces/\uff11`` (a
    full-width 1) would name space 1 as well: two URLs for one resource.
    """

    regex = r"[0-9]+"


def reject_undecodable_url(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Fail with 400 when the path or the query's bytes are not UTF-8 once percent-decoded.

    Werkzeug decodes them with replacement characters, so ``%FF`` and ``%FE`` would both
    name the id U+FFFD, and a filter value would silently become another one.
    """
    environ = request.environ
    # The request line as sent (gunicorn's and werkzeug's servers keep it), else PATH_INFO,
    # which WSGI gives as the path's bytes, one character each.
    sent = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if sent:
        path = unquote_to_bytes(urlsplit(sent).path)
    else:
        path = environ.get("PATH_INFO", "").encode("latin-1")
    query = unquote_to_bytes(environ.get("QUERY_STRING", "").replace("+", " "))
    for where, part, raw in (("@id", "path", path), ("query", "query string", query)):
        try:
            raw.decode("utf-8")
        except UnicodeError:
            raise bad_request([(where, f"the {part} is not valid UTF-8")]) from None


def flask_rule(path: str) -> str:
    """Return the Flask URL rule of a vocabulary path template."""
    rule = path
    for name, range_ in dlcs.PATH_VARIABLES.items():
        rule = rule.replace("{" + name + "}", f"<{_CONVERTERS[range_]}:{name}>")
    return rule


def _method() -> str:
    """Return the request's method, HEAD being answered as GET (without the body)."""
    return "GET" if request.method == "HEAD" else request.method


def _admin_only(operation: Operation) -> bool:
    """Whether only an administrator's key may perform ``operation`` (it may answer 403)."""
    return any(s.code == 403 for s in operation.statuses)


GENERIC: dict[str, resources.Handler] = {
    "GET": resources.get,
    "PUT": resources.put,
    "PATCH": resources.patch,
    "DELETE": resources.delete,
}


def _resource_view(cls: Class) -> Callable[..., Response]:
    operations = {op.method: op for op in cls.operations}
    behaviour = behaviour_of(cls)
    handlers = {m: behaviour.handlers.get(m, GENERIC.get(m)) for m in operations}
    admin_only = {m: _admin_only(op) for m, op in operations.items()}

    def view(**keys: Any) -> Response:
        method = _method()
        if admin_only[method]:
            auth.require_admin()
        if method != "PUT" and not all(map(resources.valid_identifier, keys.values())):
            raise resources.not_found(cls, keys)
        handler = handlers[method]
        assert handler is not None, f"no handler for {method} {cls.name}"
        return handler(cls, keys, behaviour)

    view.__name__ = f"{cls.name}_resource"
    return view


def _collection_view(prop: Prop) -> Callable[..., Response]:
    member = dlcs.get(prop.member or "")
    behaviour = behaviour_of(member)
    owner = dlcs.keyed_by(path_variables(prop.path or ""))
    admin_only = {op.method: _admin_only(op) for op in prop.operations}

    def view(**keys: Any) -> Response:
        if admin_only[_method()]:
            auth.require_admin()
        owner_exists(keys)
        if request.method == "POST":
            assert behaviour.create is not None, f"no way to create a {member.name}"
            return behaviour.create(member, keys, behaviour)
        return listing(member, keys, behaviour)

    def owner_exists(keys: dict[str, Any]) -> None:
        if owner is not None and not store(owner.name).exists(resources.connection(), keys):
            raise resources.not_found(owner, keys)

    view.__name__ = f"{prop.name}_collection_{len(prop.path or '')}"
    return view


def routes() -> Blueprint:
    """Return a blueprint with a rule for every resource and collection of the vocabulary."""
    bp = Blueprint("api", __name__)
    # Everything under /customers/{c} needs a key of customer c (or an admin's).
    bp.before_request(auth.guard)
    discovery.register(bp)
    routed: set[str | None] = set()
    for cls in sorted(dlcs.CLASSES, key=lambda c: c.name == "EntryPoint"):
        if cls.path and cls.path != "/" and cls.operations:
            methods = [op.method for op in cls.operations]
            bp.add_url_rule(flask_rule(cls.path), view_func=_resource_view(cls), methods=methods)
        for prop in cls.collections:
            if prop.path in routed:
                continue  # the entry point's links to the caller's own collections
            routed.add(prop.path)
            methods = [op.method for op in prop.operations]
            bp.add_url_rule(
                flask_rule(prop.path or ""), view_func=_collection_view(prop), methods=methods
            )
    return bp


def init_app(app: Flask) -> None:
    """Register the API's routes."""
    app.url_map.converters["digits"] = DigitsConverter
    # (URL value preprocessors run before every before_request function, authentication's too.)
    app.url_value_preprocessor(reject_undecodable_url)
    app.register_blueprint(routes())
