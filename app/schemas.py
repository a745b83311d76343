"""marshmallow schemas, generated from the vocabulary.

Read-only properties become ``dump_only`` fields, write-only ones ``load_only``; ranges
choose strict field types (a JSON string is never taken for a number, nor a number for a
boolean). Links are dumped as absolute IRIs built from the row's own key; loaded, they stay
IRIs here and are resolved to keys by :mod:`app.links`, which can look at the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_dump, validate

from app import links
from app.models import MAX_INTEGER
from vocab import dlcs
from vocab.model import Class, Prop, path_variables

_TOO_LONG = "must have at most {max} characters"


class StrictInteger(fields.Integer):
    """An integer that must be a JSON number (not a string, not a boolean)."""

    default_error_messages = {"invalid": "must be an integer", "large": "is out of range"}

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:  # what a BIGINT column holds
            raise self.make_error("large")
        return value


class StrictBoolean(fields.Boolean):
    """A boolean that must be JSON true or false."""

    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictString(fields.String):
    """A string that must be a JSON string."""

    default_error_messages = {"invalid": "must be a string", "nul": "must not contain NUL"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        return text


class DateTime(fields.DateTime):
    """An ISO 8601 date-time in UTC with its offset, to the millisecond."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return format_datetime(value)


def format_datetime(value: dt.datetime) -> str:
    """Return ``value`` as ISO 8601 in UTC with its offset, to the millisecond."""
    if value.tzinfo is None:  # stored in UTC without an offset (SQLite): a third of the cost
        return value.isoformat(timespec="milliseconds") + "+00:00"
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="milliseconds")


class Link(fields.Field):
    """A link: dumped as the absolute IRI of a resource, or derived from the row's own key."""

    def __init__(
        self, path: str, *, derived: bool, present_if: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.derived = derived
        self.present_if = present_if

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if self.derived:
            known = obj.keys() if isinstance(obj, dict) else ()
            if not set(path_variables(self.path)) <= set(known):
                return None  # e.g. the entry point's own links without a caller
            if self.present_if is not None and obj.get(self.present_if) is None:
                return None
            return links.iri(self.path, obj)
        if value is None or value == "":
            return None
        return links.iri(self.path, obj, value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValidationError("must be the IRI of a resource")
        return value


class BaseSchema(Schema):
    """Leave out properties that have no value."""

    class Meta:
        unknown = RAISE

    @post_dump
    def _drop_empty(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None}


def _value_field(prop: Prop) -> fields.Field:
    kwargs: dict[str, Any] = {}
    checks: list[Any] = []
    if prop.choices:
        checks.append(validate.OneOf(prop.choices, error="must be one of {choices}"))
    if prop.length_limit is not None:
        checks.append(validate.Length(max=prop.length_limit, error=_TOO_LONG))
    if checks:
        kwargs["validate"] = checks
    match prop.range:
        case "xsd:string":
            return StrictString(**kwargs)
        case "xsd:integer":
            return StrictInteger(**kwargs)
        case "xsd:nonNegativeInteger":
            return StrictInteger(
                validate=validate.Range(min=0, error="must be a non-negative integer")
            )
        case "xsd:boolean":
            return StrictBoolean(**kwargs)
        case "xsd:dateTime":
            return DateTime(**kwargs)
    if prop.link:
        target = dlcs.get(prop.range)
        return Link(target.path or "", derived=False, **kwargs)
    return fields.Raw()


def schema_field(cls: Class, prop: Prop) -> fields.Field:
    """Return the marshmallow field of one property."""
    if prop.is_derived:
        # dump_default: marshmallow skips a field whose value is missing from the row.
        return Link(
            prop.path or "",
            derived=True,
            present_if=prop.present_if,
            dump_only=True,
            dump_default="",
        )
    if prop.multiple:
        inner = _value_field(prop)
        field: fields.Field = fields.List(
            inner,
            error_messages={"invalid": "must be an array"},
            validate=validate.Length(max=prop.items_limit, error="must have at most {max} values"),
        )
    else:
        field = _value_field(prop)
    field.dump_only = prop.readonly
    field.load_only = prop.writeonly
    field.required = prop.required
    field.allow_none = False
    field.error_messages = {
        **field.error_messages,
        "required": "is required",
        "null": "must not be null",
    }
    if prop.identifier:
        field.attribute = cls.path_variables[-1]
    return field


@cache
def schema_class(name: str) -> type[Schema]:
    """Return the marshmallow schema class of the vocabulary class called ``name``."""
    cls = dlcs.get(name)
    declared = {p.name: schema_field(cls, p) for p in cls.properties}
    klass = BaseSchema.from_dict(declared, name=f"{name}Schema")
    klass.error_messages = {
        "unknown": f"is not a property of {name}",
        "type": "must be a JSON object",
    }
    return klass


@cache
def schema(name: str, *, partial: bool = False) -> Schema:
    """Return a schema instance for loading (``partial`` for PATCH) or dumping."""
    return schema_class(name)(partial=partial, unknown=RAISE)


@cache
def lenient_schema(name: str) -> Schema:
    """Return a schema instance that ignores unknown keys (to read back stored values)."""
    return schema_class(name)(unknown=EXCLUDE)


# -- the fast way out ----------------------------------------------------------------------------

Step = tuple[str, str, Callable[[Any, Mapping[str, Any]], Any] | None]


def _derived(path: str, present_if: str | None) -> Callable[[Any, Mapping[str, Any]], Any]:
    names = set(path_variables(path))

    def build(_value: Any, row: Mapping[str, Any]) -> Any:
        if present_if is not None and row.get(present_if) is None:
            return None
        return links.iri(path, row) if names <= row.keys() else None

    return build


def _step(cls: Class, prop: Prop) -> Step:
    attribute = cls.path_variables[-1] if prop.identifier else prop.name
    convert: Callable[[Any, Mapping[str, Any]], Any]
    if prop.is_derived:
        return prop.name, "", _derived(prop.path or "", prop.present_if)
    if prop.link:
        path = dlcs.get(prop.range).path or ""
        if prop.multiple:
            convert = lambda v, row: [links.iri(path, row, x) for x in v]  # noqa: E731
        else:
            convert = lambda v, row: links.iri(path, row, v) if v != "" else None  # noqa: E731
    elif prop.range == "xsd:dateTime":
        convert = lambda v, _row: format_datetime(v)  # noqa: E731
    elif prop.multiple:
        convert = lambda v, _row: list(v)  # noqa: E731
    else:
        return prop.name, attribute, None  # written as stored
    return prop.name, attribute, convert


@cache
def dumper(name: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Return a function giving the JSON values of a resource of class ``name``.

    It writes exactly what the marshmallow schema dumps (a test holds them together), but
    as one loop over steps prepared from the vocabulary, because it runs on every response.
    """
    cls = dlcs.get(name)
    steps = [_step(cls, p) for p in cls.properties if not p.writeonly]

    def dump(row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attribute, convert in steps:
            value = row.get(attribute) if attribute else True
            if value is None:
                continue
            if convert is not None:
                value = convert(value, row)
                if value is None:
                    continue
            out[key] = value
        return out

    return dump


# -- the fast way in -----------------------------------------------------------------------------

Check = Callable[[Any], bool]


def _accepts(prop: Prop) -> Check | None:
    # Whether one JSON value is what the schema's field for ``prop`` loads as it is; None
    # for the fields this does not check (the schema loads those).
    check: Check
    match prop.range:
        case "xsd:string":
            check = lambda v: type(v) is str and "\x00" not in v  # noqa: E731
        case "xsd:integer":
            check = lambda v: type(v) is int and -MAX_INTEGER - 1 <= v <= MAX_INTEGER  # noqa: E731
        case "xsd:nonNegativeInteger":
            check = lambda v: type(v) is int and 0 <= v <= MAX_INTEGER  # noqa: E731
        case "xsd:boolean":
            check = lambda v: type(v) is bool  # noqa: E731
        case _ if prop.link and not prop.is_derived:
            check = lambda v: type(v) is str and v != ""  # noqa: E731
        case _:
            return None
    if prop.choices:
        choices, plain = frozenset(prop.choices), check
        check = lambda v: plain(v) and v in choices  # noqa: E731
    if prop.length_limit is not None:
        most, typed = prop.length_limit, check
        check = lambda v: typed(v) and len(v) <= most  # noqa: E731
    return check


@cache
def loader(name: str, *, partial: bool = False) -> Callable[[Mapping[str, Any]], dict | None]:
    """Return a function loading a body of class ``name`` as its marshmallow schema does.

    For a body the schema loads as it is (a test holds the two together), it returns what
    the schema's load returns, in the same order; for any other body, or one with a value it
    does not check itself, None, and the schema loads the body and words what is wrong. It
    runs on every write: one pass over the fields, no error objects.
    """
    cls = dlcs.get(name)
    fields_ = schema(name, partial=partial).load_fields
    steps = [
        (key, field.attribute or key, cls.prop(key).items_limit, _accepts(cls.prop(key)))
        for key, field in fields_.items()
    ]
    required = frozenset(key for key, field in fields_.items() if field.required and not partial)
    known = frozenset(fields_)

    def load(body: Mapping[str, Any]) -> dict | None:
        if not known.issuperset(body) or not required.issubset(body):
            return None
        out: dict[str, Any] = {}
        for key, attribute, most, check in steps:
            if key not in body:
                continue
            value = body[key]
            if check is None:
                return None
            if most is not None:  # (a multi-valued property)
                if type(value) is not list or len(value) > most:
                    return None
                if not all(check(item) for item in value):
                    return None
                value = list(value)
            elif not check(value):
                return None
            out[attribute] = value
        return out

    return load
