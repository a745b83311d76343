"""Named queries: a template that turns the arguments of a URL into a query of images.

A template (the real DLCS's syntax) is ``&``-separated ``key=value`` pairs:

- ``s1``, ``s2``, ``s3``, ``n1``, ``n2``, ``n3``: the image's ``string1..3``, ``number1..3``
  equals the value; ``space``: the space's number; ``spacename``: the space's name;
  ``batch``: the image's batch is one of these numbers (comma-separated);
- ``canvas`` (or its alias ``assetOrder``): the order of the canvases, e.g. ``n1;n2 desc;s1``
  (``+`` may stand for the space); images that tie are ordered by space, then id;
- ``manifest``: the field whose value names the manifest (e.g. ``s1``);
- ``#=v``: the argument ``v``, appended after those of the request.

A value ``pN`` is the Nth argument of the request, any other value is itself. As in the
real DLCS, an argument the request does not carry leaves its condition out (so a template's
last arguments may be optional); a request with no argument at all for a template that
names some is refused. A template is checked when it is stored (:func:`parse`), and again
with the request's arguments (:func:`bind`); each names every fault it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, or_, select

from app.storage.media import delivered
from app.storage.models import MAX_INTEGER, TABLES
from app.storage.store import store

# The template's keys of the image's metadata, and the columns they name.
FIELDS = {
    "s1": "string1",
    "s2": "string2",
    "s3": "string3",
    "n1": "number1",
    "n2": "number2",
    "n3": "number3",
}
NUMBERS = frozenset({"n1", "n2", "n3", "space"})
CONDITIONS = (*FIELDS, "space", "spacename", "batch")
ORDER_KEYS = ("canvas", "assetOrder")
KEYS = (*CONDITIONS, *ORDER_KEYS, "manifest", "#")
_ARGUMENT = re.compile(r"p([0-9]+)")
_DIRECTIONS = {"asc": False, "desc": True}
MAX_BATCHES = 100  # (the batches one query may name: each is a parameter of its SELECT)


class TemplateError(ValueError):
    """A template, or the arguments of a request of it, that cannot make a query.

    ``faults``: (where, what is wrong) for each fault; where: the pair of the template at fault
    ("" for the whole template), or the argument.
    """

    def __init__(self, faults: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {what}" for where, what in faults))
        self.faults = faults


@dataclass(frozen=True)
class Template:
    """A parsed template: each condition's value (a literal, or the number of an argument),
    the order of the canvases, the field naming the manifest, and the appended arguments."""

    conditions: tuple[tuple[str, str | int], ...]
    order: tuple[tuple[str, bool], ...]
    manifest: str | None
    appended: tuple[str, ...]

    @property
    def arguments(self) -> int:
        """Return the highest argument the template names (0: it names none)."""
        return max((v for _, v in self.conditions if isinstance(v, int)), default=0)


def parse(template: str) -> Template:
    """Parse a template; raise TemplateError naming every fault of it."""
    faults: list[tuple[str, str]] = []
    conditions: dict[str, str | int] = {}
    order: tuple[tuple[str, bool], ...] = ()
    manifest, appended, seen = None, [], set()
    pairs = [pair for pair in template.split("&") if pair]
    if not pairs:
        faults.append(("", "is empty: give at least one key=value pair"))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        where = pair
        if not sep or not key or not value or "=" in value:
            faults.append((where, "is not key=value"))
            continue
        if key not in KEYS:
            faults.append((where, f"{key} is not a key; the keys are {', '.join(KEYS)}"))
            continue
        if key == "#":
            appended.append(value)
            continue
        name = "canvas" if key in ORDER_KEYS else key
        if name in seen:
            faults.append((where, f"{key} is given twice"))
            continue
        seen.add(name)
        if key in ORDER_KEYS:
            order = _order(value, where, faults)
        elif key == "manifest":
            if value in FIELDS:
                manifest = value
            else:
                faults.append((where, f"manifest names one of {', '.join(FIELDS)}"))
        else:
            conditions[key] = _value(key, value, where, faults)
    if faults:
        raise TemplateError(faults)
    return Template(tuple(conditions.items()), order, manifest, tuple(appended))


def _value(key: str, value: str, where: str, faults: list[tuple[str, str]]) -> str | int:
    found = _ARGUMENT.fullmatch(value)
    if found:
        number = int(found.group(1))
        if number < 1:
            faults.append((where, "arguments are numbered from p1"))
        return number
    fault = _literal_fault(key, value)
    if fault:
        faults.append((where, fault))
    return value


def _literal_fault(key: str, value: str) -> str | None:
    # What is wrong with a value of ``key`` (a literal, or an argument once bound), if anything.
    if key in NUMBERS and not _is_number(value):
        return f"{key} is a whole number, not {value!r}"
    if key == "batch":
        parts = value.split(",")
        if not all(_is_number(part) for part in parts):
            return f"batch is whole numbers separated by commas, not {value!r}"
        if len(parts) > MAX_BATCHES:
            return f"batch names at most {MAX_BATCHES} batches"
    return None


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= MAX_INTEGER


def _order(value: str, where: str, faults: list[tuple[str, str]]) -> tuple[tuple[str, bool], ...]:
    order, named = [], set()
    for part in value.split(";"):
        words = part.replace("+", " ").split()
        if not words or len(words) > 2 or words[0] not in FIELDS:
            faults.append((where, f"{part!r}: order by one of {', '.join(FIELDS)}, e.g. n1 desc"))
            continue
        if len(words) == 2 and words[1].lower() not in _DIRECTIONS:
            faults.append((where, f"{part!r}: a direction is asc or desc"))
            continue
        if words[0] in named:
            faults.append((where, f"{words[0]} is ordered by twice"))
            continue
        named.add(words[0])
        descending = len(words) == 2 and _DIRECTIONS[words[1].lower()]
        order.append((words[0], descending))
    return tuple(order)


@dataclass(frozen=True)
class Bound:
    """A template with a request's arguments: the value of each condition it keeps."""

    template: Template
    values: dict[str, str]

    def manifest_value(self) -> str | None:
        """Return the value of the field naming the manifest, when the template names one
        and a condition gives it."""
        return self.values.get(self.template.manifest or "")


def bind(template: Template, arguments: list[str]) -> Bound:
    """Give a template the request's arguments (then those it appends); raise TemplateError
    for an argument that is not what its key takes, or no argument for a template that needs
    some."""
    given = [*arguments, *template.appended]
    if template.arguments and not given:
        raise TemplateError([("arguments", f"the query takes up to {template.arguments}")])
    values, faults = {}, []
    for key, value in template.conditions:
        if isinstance(value, int):
            if value > len(given):
                continue  # (an optional argument left out: no condition)
            text, where = given[value - 1], f"p{value} ({key})"
        else:
            text, where = value, key
        fault = _literal_fault(key, text)
        if fault:
            faults.append((where, fault))
        values[key] = text
    if faults:
        raise TemplateError(faults)
    return Bound(template, values)


_IMAGES = TABLES["Image"]
_SPACES = TABLES["Space"]


def images(conn: Connection, customer: int, bound: Bound, limit: int) -> list[dict[str, Any]]:
    """Return the images of ``customer`` a bound query matches that can be shown (ingested
    as images, without an error), in its order; at most ``limit`` of them.

    One SELECT, whatever the number of images (their tags and roles aggregated in it).
    """
    query = _select(conn, customer, bound).limit(limit)
    return store("Image").fetch(conn, query)


def _select(conn: Connection, customer: int, bound: Bound) -> Select:
    c = _IMAGES.c
    where = [
        c.customer == customer,
        c.ingesting.is_(False),
        c.error == "",
        or_(and_(c.width.is_not(None), c.media_type.like("image/%")), delivered(_IMAGES)),
    ]
    for key, value in bound.values.items():
        if key in FIELDS:
            column = c[FIELDS[key]]
            where.append(column == (int(value) if key in NUMBERS else value))
        elif key == "space":
            where.append(c.space == int(value))
        elif key == "spacename":
            named = select(_SPACES.c.space).where(
                _SPACES.c.customer == customer, _SPACES.c.name == value
            )
            where.append(c.space.in_(named.scalar_subquery()))
        elif key == "batch":
            where.append(c.batch.in_([int(part) for part in value.split(",")]))
    order = [
        c[FIELDS[k]].desc() if desc else c[FIELDS[k]].asc() for k, desc in bound.template.order
    ]
    query = store("Image").select(conn.dialect.name).where(*where)
    return query.order_by(*order, c.space, c.image)
