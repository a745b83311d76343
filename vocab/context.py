"""Derive the JSON-LD ``@context`` documents from the vocabulary.

Each class has one context, served at ``/contexts/{Class}.jsonld``. It defines the class,
its properties, the classes its properties point to, and every Hydra term a response of
that class uses (collections, views, search templates), so no client ever needs a
remote context.
"""

from __future__ import annotations

from typing import Any

from vocab import dlcs
from vocab.model import Class, Prop
from vocab.terms import HYDRA, IIIF_IMAGE, OWL, RDF, RDFS, XSD, vocab_iri

# Hydra terms used by collections, views and search templates, as defined in every context.
HYDRA_TERMS: dict[str, Any] = {
    "Collection": "hydra:Collection",
    "PartialCollectionView": "hydra:PartialCollectionView",
    "IriTemplate": "hydra:IriTemplate",
    "IriTemplateMapping": "hydra:IriTemplateMapping",
    "BasicRepresentation": "hydra:BasicRepresentation",
    "member": {"@id": "hydra:member", "@type": "@id"},
    "totalItems": {"@id": "hydra:totalItems", "@type": "xsd:integer"},
    "view": {"@id": "hydra:view", "@type": "@id"},
    "first": {"@id": "hydra:first", "@type": "@id"},
    "previous": {"@id": "hydra:previous", "@type": "@id"},
    "next": {"@id": "hydra:next", "@type": "@id"},
    "last": {"@id": "hydra:last", "@type": "@id"},
    "search": "hydra:search",
    "template": "hydra:template",
    "variableRepresentation": {"@id": "hydra:variableRepresentation", "@type": "@vocab"},
    "mapping": "hydra:mapping",
    "variable": "hydra:variable",
    "property": {"@id": "hydra:property", "@type": "@vocab"},
    "required": "hydra:required",
    "memberAssertion": "hydra:memberAssertion",
    "object": {"@id": "hydra:object", "@type": "@vocab"},
}

PREFIXES: dict[str, str] = {
    "hydra": str(HYDRA),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
    "owl": str(OWL),
    "iiif_image": str(IIIF_IMAGE),
}


def class_iri(cls: Class) -> str:
    """Return the compact IRI of a class (``vocab:Image``, or its own, e.g. ``hydra:Error``)."""
    return cls.iri or f"vocab:{cls.name}"


def prop_iri(cls: Class, prop: Prop) -> str:
    """Return the compact IRI of a property: ``vocab:{Class}/{name}`` unless it has its own."""
    return prop.iri or f"vocab:{cls.name}/{prop.name}"


def range_iri(prop: Prop) -> str:
    """Return the compact IRI of a property's range."""
    if prop.datatype or prop.is_collection:
        return prop.range
    return class_iri(dlcs.get(prop.range))


def term_definition(cls: Class, prop: Prop) -> dict[str, str]:
    """Return the expanded term definition of one property."""
    definition = {"@id": prop_iri(cls, prop)}
    if prop.link:
        definition["@type"] = "@id"
    elif prop.datatype and prop.datatype not in ("xsd:string", "xsd:boolean"):
        definition["@type"] = prop.datatype
    if prop.multiple:
        definition["@container"] = "@set"
    return definition


def _class_terms(cls: Class, terms: dict[str, Any]) -> None:
    terms[cls.name] = class_iri(cls)
    for prop in cls.properties:
        terms[prop.name] = term_definition(cls, prop)
        if not prop.datatype and not prop.is_collection:
            target = dlcs.get(prop.range)
            terms[target.name] = class_iri(target)
            if not prop.link:  # embedded objects (violations) need their own terms
                _class_terms(target, terms)


def context(cls: Class, base: str) -> dict[str, Any]:
    """Return the context document of ``cls`` for a server whose public base URL is ``base``."""
    terms: dict[str, Any] = {"vocab": vocab_iri(base), **PREFIXES, **HYDRA_TERMS}
    _class_terms(cls, terms)
    return {"@context": terms}


def context_url(cls: Class, base: str) -> str:
    """Return the URL the context of ``cls`` is served at."""
    return f"{base}/contexts/{cls.name}.jsonld"
