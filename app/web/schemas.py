"""marshmallow schemas, generated from the vocabulary.

Read-only properties become ``dump_only`` fields, write-only ones ``load_only``; ranges
choose strict field types (a JSON string is never taken for a number, nor a number for a
boolean). Links are dumped as absolute IRIs built from the row's own key; loaded, they stay
IRIs here and are resolved to keys by :mod:`app.web.links`, which can look at the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from flask import current_app, has_app_context
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_dump,
    validate,
)

from app.storage.models import MAX_INTEGER
from app.web import links
from app.web.urls import browser_url_fault
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
        self.needs = frozenset(path_variables(path))  # (what a derived link is built from)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if self.derived:
            if not isinstance(obj, dict) or not self.needs <= obj.keys():
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


def _browser_url(value: str) -> None:
    # (a URL a browser is sent to: the app's setting says whether http will do)
    allow_http = bool(current_app.config["ALLOW_HTTP_URLS"]) if has_app_context() else False
    fault = browser_url_fault(value, allow_http) if value else None
    if fault is not None:
        raise ValidationError(fault)


def _value_field(prop: Prop) -> fields.Field:
    kwargs: dict[str, Any] = {}
    checks: list[Any] = []
    if prop.choices:
        checks.append(validate.OneOf(prop.choices, error="must be one of {choices}"))
    if prop.length_limit is not None:
        checks.append(validate.Length(max=prop.length_limit, error=_TOO_LONG))
    if prop.browser_url:
        checks.append(_browser_url)
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


@cache
def dumper(name: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Return what ``schema(name).dump`` does, as one loop over the schema's own fields.

    Each value is serialised by the same field (every rule is written once, in the fields
    above); left out is marshmallow's generic work around them, an accessor per field and a
    pass to drop empty values, which took three quarters of a page of 100 images. Side by side
    with ``dump``, a page of 100 images is served 1.54x as fast on SQLite and 1.36x on
    PostgreSQL (bench/RESULTS.md, 2026-12-07). A test holds it to ``dump``.
    """
    fields = [(key, f.attribute or key, f) for key, f in schema(name).dump_fields.items()]

    def dump(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, attribute, field in fields:
            value = row.get(attribute, field.dump_default)
            if value is missing:
                continue
            value = field._serialize(value, attribute, row)
            if value is not None:
                out[key] = value
        return out

    return dump
