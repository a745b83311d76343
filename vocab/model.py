"""The declaration types of the vocabulary: classes, properties, operations, statuses.

Everything the API publishes about itself (contexts, documentation, schemas, columns,
routes) is derived from values of these types, so each fact is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

XSD_RANGES = frozenset(
    {"xsd:string", "xsd:integer", "xsd:nonNegativeInteger", "xsd:boolean", "xsd:dateTime"}
)
COLLECTION = "hydra:Collection"
NOTHING = "owl:Nothing"
# What a value may hold unless its property declares otherwise: the characters of a string
# (or of a link's IRI), and the values of a multi-valued property.
MAX_LENGTH = 4096
MAX_ITEMS = 100


@dataclass(frozen=True)
class Status:
    """An HTTP status an operation really answers with, and what it means there."""

    code: int
    description: str


@dataclass(frozen=True)
class Operation:
    """An HTTP operation on a resource or on a linked collection."""

    method: str
    title: str
    returns: str
    statuses: tuple[Status, ...]
    expects: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Prop:
    """A property of a class, declared once with everything derived from it.

    ``range`` is an XSD type (``xsd:string``), a class name of this vocabulary, or
    ``hydra:Collection`` for a link to a collection of ``member`` resources found at ``path``.
    ``transient`` marks a value that is never stored: computed when read (a batch's
    counters) or shown once (a key's secret).
    ``path`` makes a link derived: its value is the IRI of ``path`` filled from the
    resource's own key (a space's ``images`` collection, a customer's ``queue``).
    ``automatic`` marks a value the server sets when the resource is created (``created``).
    ``identifier`` marks the property whose value is the last variable of the resource path.
    ``default`` is the value a new resource gets when the property is left out; ``None``
    means no value, and a property without a value is left out of responses.
    ``max_length`` and ``max_items`` bound what a request may send (``length_limit``,
    ``items_limit``: the declared bound, else MAX_LENGTH and MAX_ITEMS).
    ``present_if`` names a property of the same resource: a derived link is shown only while
    that one has a value (an image's IIIF services, once it is ingested as an image).
    ``browser_url`` marks a URL the server sends a browser to (a role's sign-in page): only an
    absolute https URL (http where the server allows it), or none ("").
    ``default_key``: left out of a create or a replace, the value is the resource's key (the last
    variable of its path: a role's name is its key unless one is given).
    """

    name: str
    range: str
    description: str
    readonly: bool = False
    writeonly: bool = False
    required: bool = False
    multiple: bool = False
    link: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    filterable: bool = False
    orderable: bool = False
    iri: str | None = None
    identifier: bool = False
    transient: bool = False
    automatic: bool = False
    member: str | None = None
    path: str | None = None
    operations: tuple[Operation, ...] = ()
    max_length: int | None = None
    max_items: int | None = None
    present_if: str | None = None
    browser_url: bool = False
    default_key: bool = False

    @property
    def length_limit(self) -> int | None:
        """The most characters one value may have (strings and links), or None."""
        if self.range != "xsd:string" and not (self.link and not self.is_derived):
            return None
        return self.max_length if self.max_length is not None else MAX_LENGTH

    @property
    def items_limit(self) -> int | None:
        """The most values a multi-valued property may have, or None."""
        if not self.multiple:
            return None
        return self.max_items if self.max_items is not None else MAX_ITEMS

    @property
    def limits_text(self) -> str:
        """The bounds of the property's values, in words ("" when it has none)."""
        parts = []
        if self.items_limit is not None:
            parts.append(f"at most {self.items_limit} values")
        if self.length_limit is not None:
            each = " each" if self.multiple else ""
            parts.append(f"at most {self.length_limit} characters{each}")
        return "; ".join(parts)

    @property
    def is_collection(self) -> bool:
        """Whether the property links to a collection rather than holding a value."""
        return self.range == COLLECTION

    @property
    def is_derived(self) -> bool:
        """Whether the property is a link built from the resource's key, not a stored value."""
        return self.path is not None

    @property
    def is_stored(self) -> bool:
        """Whether values of the property are stored."""
        return not (self.is_derived or self.transient)

    @property
    def datatype(self) -> str | None:
        """The XSD type of a literal-valued property, or None for links and objects."""
        return self.range if self.range in XSD_RANGES else None


@dataclass(frozen=True)
class Filter:
    """A collection filter that is not a property's exact value: ``prop`` is non-empty."""

    name: str
    prop: str
    description: str


@dataclass(frozen=True)
class Class:
    """A class of resources (or of embedded objects, when it has no ``path``)."""

    name: str
    title: str
    description: str
    properties: tuple[Prop, ...]
    operations: tuple[Operation, ...] = ()
    path: str | None = None
    iri: str | None = None
    default_order: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    _by_name: dict[str, Prop] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [p.name for p in self.properties]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name} declares a property twice")
        self._by_name.update({p.name: p for p in self.properties})

    def prop(self, name: str) -> Prop:
        """Return the property called ``name``; KeyError when the class has none."""
        return self._by_name[name]

    def has(self, name: str) -> bool:
        """Whether the class declares a property called ``name``."""
        return name in self._by_name

    @cached_property
    def stored(self) -> tuple[Prop, ...]:
        """The properties whose values are stored."""
        return tuple(p for p in self.properties if p.is_stored)

    @cached_property
    def collections(self) -> tuple[Prop, ...]:
        """The properties that link to collections."""
        return tuple(p for p in self.properties if p.is_collection)

    @cached_property
    def path_variables(self) -> tuple[str, ...]:
        """The variables of the resource path, outermost first."""
        return path_variables(self.path or "")


@cache
def path_variables(path: str) -> tuple[str, ...]:
    """Return the ``{variable}`` names of a path template, in order."""
    names = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
    return tuple(names)
