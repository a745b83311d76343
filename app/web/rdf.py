"""RDF in and out: the graph of a JSON-LD document, its other serialisations, and bodies in
any JSON-LD form (or Turtle) brought back to this API's compact terms.

None of this runs on the JSON-LD fast path: only requests that ask for Turtle, N-Triples or
RDF/XML, or send a body that is not compact JSON in this API's terms, pay for pyld and rdflib.
"""

from __future__ import annotations

import json
from typing import Any

import defusedxml
import rdflib
from defusedxml import ElementTree as defused
from flask import current_app
from pyld import jsonld as pyld
from rdflib.namespace import RDF

from app.web import jsonld, limits
from app.web.errors import bad_request
from vocab import dlcs
from vocab.context import class_iri, prop_iri
from vocab.model import Class, Prop
from vocab.terms import HYDRA, vocab_iri

# Media types of the RDF serialisations (jsonld.RDF_TYPES), and rdflib's names for them.
FORMATS = dict(zip(jsonld.RDF_TYPES, ("turtle", "nt", "xml"), strict=True))
CONTEXT_PATH = "/contexts/"


def _loader(url: str, options: Any = None) -> dict[str, Any]:
    """Serve this API's own contexts from memory; refuse to fetch anything else."""
    base = jsonld.base_url()
    path = url[len(base) :] if url.startswith(base) else None
    if path and path.startswith(CONTEXT_PATH) and path.endswith(".jsonld"):
        name = path[len(CONTEXT_PATH) : -len(".jsonld")]
        if name in dlcs.BY_NAME:
            document = json.loads(jsonld.context_bytes(name, base))
            return {"contextUrl": None, "documentUrl": url, "document": document}
    raise RemoteContextRefused(
        f"the remote context {url} is not one of this API's, and is not fetched: put it inline"
    )


class RemoteContextRefused(Exception):
    """A body named a remote context the server will not fetch."""


def _options(base: str | None = None) -> dict[str, Any]:
    return {"documentLoader": _loader, "base": base or jsonld.base_url() + "/"}


def graph(doc: Any) -> rdflib.Graph:
    """Return the RDF graph of a JSON-LD document of this API."""
    nquads = pyld.to_rdf(doc, {**_options(), "format": "application/n-quads"})
    result = rdflib.Graph()
    result.parse(data=nquads, format="nt")
    result.bind("vocab", rdflib.Namespace(vocab_iri(jsonld.base_url())))
    result.bind("hydra", rdflib.Namespace(str(HYDRA)))
    return result


def serialize(doc: Any, media_type: str) -> bytes:
    """Return a JSON-LD document of this API serialised as ``media_type``."""
    data = graph(doc).serialize(format=FORMATS[media_type])
    return data.encode() if isinstance(data, str) else data


# -- bodies in -----------------------------------------------------------------------------------


def _index(cls: Class) -> dict[str, Prop]:
    base = jsonld.base_url()
    found = {}
    for prop in cls.properties:
        compact = prop_iri(cls, prop)
        prefix, _, rest = compact.partition(":")
        full = vocab_iri(base, rest) if prefix == "vocab" else str(HYDRA) + rest
        found[full] = prop
    return found


def _literal(value: dict[str, Any], prop: Prop) -> Any:
    if "@id" in value:
        return value["@id"]
    raw = value.get("@value")
    if isinstance(raw, str) and prop.range in ("xsd:integer", "xsd:nonNegativeInteger"):
        number = limits.integer(raw)
        return raw if number is None else number  # (a string: the loader names the fault)
    if isinstance(raw, str) and prop.range == "xsd:boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def _values(items: list[Any], prop: Prop) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict) and "@list" in item:
            out.extend(_values(item["@list"], prop))
        elif isinstance(item, dict):
            out.append(_literal(item, prop))
    return out


def from_expanded(expanded: list[Any], cls: Class, iri: str | None) -> dict[str, Any]:
    """Return the node about ``iri`` (or the only node) in this API's compact terms."""
    nodes = [n for n in expanded if isinstance(n, dict)]
    chosen = [n for n in nodes if n.get("@id") == iri] if iri else []
    if not chosen:
        chosen = [n for n in nodes if any(not k.startswith("@") for k in n)] or nodes
    if len(chosen) != 1:
        where = f"one node about {iri}" if iri else "one node"
        raise bad_request([("body", f"must describe {where}, found {len(chosen)}")])
    node, by_iri = chosen[0], _index(cls)
    result: dict[str, Any] = {}
    if "@id" in node:
        result["@id"] = node["@id"]
    if "@type" in node:
        full = vocab_iri(jsonld.base_url(), cls.name) if not cls.iri else str(HYDRA) + cls.name
        result["@type"] = [cls.name if t in (full, class_iri(cls)) else t for t in node["@type"]]
    for key, items in node.items():
        if key.startswith("@"):
            continue
        prop = by_iri.get(key)
        if prop is None:
            result[key] = items  # not ours: validation names it
            continue
        values = _values(items, prop)
        result[prop.name] = values if prop.multiple else (values[0] if len(values) == 1 else values)
    return result


def _reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RemoteContextRefused):
            return str(seen)
        seen = getattr(seen, "cause", None) or seen.__cause__
    message = str(getattr(exc, "message", None) or exc).splitlines()[0]
    return f"the body is not JSON-LD this server can read: {message}"


def normalise(body: Any, cls: Class, iri: str | None) -> dict[str, Any]:
    """Bring a body in any JSON-LD form to this API's compact terms."""
    try:
        expanded = pyld.expand(body, _options(iri))
    except pyld.JsonLdError as exc:
        raise bad_request([("@context", _reason(exc))]) from exc
    return from_expanded(expanded, cls, iri)


class _Bounded(rdflib.Graph):
    """A graph that stops its parser once it holds ``limit`` triples."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.count = limit, 0

    def add(self, triple: Any) -> Any:
        self.count += 1
        if self.count > self.limit:
            raise TooManyTriples(self.limit)
        return super().add(triple)


class TooManyTriples(Exception):
    """A body holds more triples than a request may send."""


def _refuse_dtd(data: bytes) -> None:
    # A DTD can declare entities that expand exponentially ("billion laughs"): RDF/XML bodies
    # may declare none, and are checked by a parser that stops at the declaration.
    try:
        defused.fromstring(data, forbid_dtd=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden):
        raise bad_request([("body", "RDF/XML bodies may not declare a DTD or entities")]) from None
    except defused.ParseError:
        pass  # rdflib names what is wrong with it


def _item(parsed: rdflib.Graph, term: Any) -> dict[str, Any]:
    if isinstance(term, rdflib.Literal):
        text = str(term)
        if not limits.is_text(text):
            raise bad_request([("body", "holds a string that is not Unicode text")])
        return {"@value": text}
    if (term, RDF.first, None) in parsed:
        try:
            return {"@list": [_item(parsed, member) for member in parsed.items(term)]}
        except ValueError as exc:  # (a list whose rdf:rest comes back to itself)
            raise bad_request([("body", str(exc))]) from None
    return {"@id": str(term) if isinstance(term, rdflib.URIRef) else f"_:{term}"}


def expanded_nodes(parsed: rdflib.Graph) -> list[dict[str, Any]]:
    """Return the nodes of a graph as expanded JSON-LD (lists folded into ``@list``).

    Built directly, in one pass over the triples: pyld's ``from_rdf`` takes time that grows
    with the square of their number.
    """
    nodes: dict[Any, dict[str, Any]] = {}
    for subject, predicate, obj in parsed:
        if (subject, RDF.first, None) in parsed:
            continue  # a list's cell, folded into the node that holds the list
        node = nodes.setdefault(subject, {"@id": _item(parsed, subject)["@id"]})
        if predicate == RDF.type:
            node.setdefault("@type", []).append(str(obj))
        else:
            node.setdefault(str(predicate), []).append(_item(parsed, obj))
    return list(nodes.values())


def parse_rdf(data: bytes, media_type: str, cls: Class, iri: str | None) -> dict[str, Any]:
    """Read an RDF body (Turtle, N-Triples, RDF/XML) about ``iri`` into compact terms."""
    limit = int(current_app.config["MAX_BODY_TRIPLES"])
    if FORMATS[media_type] == "xml":
        _refuse_dtd(data)
    parsed = _Bounded(limit)
    try:
        parsed.parse(data=data, format=FORMATS[media_type], publicID=iri or jsonld.base_url() + "/")
    except TooManyTriples:
        raise bad_request(
            [("body", f"holds more than {limit} triples (DLCS_MAX_BODY_TRIPLES)")]
        ) from None
    except Exception as exc:  # rdflib raises many kinds of parse errors
        raise bad_request([("body", f"is not valid {media_type}: {exc}")]) from exc
    return from_expanded(expanded_nodes(parsed), cls, iri)
