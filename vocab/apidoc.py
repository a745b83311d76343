"""Derive the ``hydra:ApiDocumentation`` from the vocabulary.

The document is one top-level node (no ``@graph``) with an inline context, so a client
reads it without fetching anything else. Property nodes are typed ``hydra:Link`` when
their values are dereferenceable links, ``rdf:Property`` otherwise; collection GET and
POST operations hang on the link properties that lead to the collections.
"""

from __future__ import annotations

from typing import Any

from vocab import dlcs
from vocab.context import PREFIXES, class_iri, prop_iri, range_iri
from vocab.model import Class, Operation, Prop
from vocab.terms import VOCAB_PATH, vocab_iri

TITLE = "DLCS Image API"
DESCRIPTION = (
    "Register images, audio and video with the Digital Library Cloud Services and manage "
    "the customers, spaces, roles, policies and keys around them."
)

DOC_TERMS: dict[str, Any] = {
    "ApiDocumentation": "hydra:ApiDocumentation",
    "Class": "hydra:Class",
    "Link": "hydra:Link",
    "Operation": "hydra:Operation",
    "Status": "hydra:Status",
    "SupportedProperty": "hydra:SupportedProperty",
    "Property": "rdf:Property",
    "Collection": "hydra:Collection",
    "title": "hydra:title",
    "description": "hydra:description",
    "label": "rdfs:label",
    "entrypoint": {"@id": "hydra:entrypoint", "@type": "@id"},
    "supportedClass": {"@id": "hydra:supportedClass", "@type": "@id"},
    "supportedProperty": "hydra:supportedProperty",
    "supportedOperation": "hydra:supportedOperation",
    "property": {"@id": "hydra:property", "@type": "@id"},
    "domain": {"@id": "rdfs:domain", "@type": "@id"},
    "range": {"@id": "rdfs:range", "@type": "@id"},
    "subClassOf": {"@id": "rdfs:subClassOf", "@type": "@id"},
    "required": "hydra:required",
    "readable": "hydra:readable",
    "writable": "hydra:writable",
    "writeable": "hydra:writeable",
    "method": "hydra:method",
    "expects": {"@id": "hydra:expects", "@type": "@id"},
    "returns": {"@id": "hydra:returns", "@type": "@id"},
    "possibleStatus": "hydra:possibleStatus",
    "statusCode": "hydra:statusCode",
    # The older spellings that HydraConsole and other early clients read.
    "readonly": "hydra:readonly",
    "writeonly": "hydra:writeonly",
    "statusCodes": "hydra:statusCodes",
    "StatusCodeDescription": "hydra:StatusCodeDescription",
    "code": "hydra:code",
    # What the members of a linked collection are, both ways clients look for it.
    "memberAssertion": "hydra:memberAssertion",
    "object": {"@id": "hydra:object", "@type": "@id"},
    "equivalentClass": "owl:equivalentClass",
    "onProperty": {"@id": "owl:onProperty", "@type": "@id"},
    "allValuesFrom": {"@id": "owl:allValuesFrom", "@type": "@id"},
}


def _operation(op: Operation) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@type": "Operation",
        "method": op.method,
        "title": op.title,
        "description": op.description or op.title,
        "returns": op.returns,
        "possibleStatus": [
            {"@type": "Status", "statusCode": s.code, "description": s.description}
            for s in op.statuses
        ],
    }
    node["statusCodes"] = [
        {"@type": "StatusCodeDescription", "code": s.code, "description": s.description}
        for s in op.statuses
    ]
    if op.expects:
        node["expects"] = op.expects
    return node


def _property(cls: Class, prop: Prop) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": prop_iri(cls, prop),
        "@type": "Link" if prop.link else "Property",
        "label": prop.name,
        "description": prop.description,
        "domain": class_iri(cls),
        "range": range_iri(prop),
    }
    if prop.is_collection and prop.member:
        member = class_iri(dlcs.get(prop.member))
        node["range"] = [
            "hydra:Collection",
            {"equivalentClass": {"onProperty": "hydra:member", "allValuesFrom": member}},
        ]
        node["memberAssertion"] = {"property": "rdf:type", "object": member}
    if prop.operations:
        node["supportedOperation"] = [_operation(op) for op in prop.operations]
    return node


def _described(prop: Prop) -> str:
    # What a client may send is part of the description a console shows beside the field.
    if prop.readonly or not prop.limits_text:
        return prop.description
    return f"{prop.description.rstrip('.')} ({prop.limits_text})."


def _supported_property(cls: Class, prop: Prop) -> dict[str, Any]:
    return {
        "@type": "SupportedProperty",
        "property": _property(cls, prop),
        "title": prop.name,
        "description": _described(prop),
        "required": prop.required,
        "readable": not prop.writeonly,
        "writable": not prop.readonly,
        "writeable": not prop.readonly,
        "readonly": prop.readonly,
        "writeonly": prop.writeonly,
    }


def _supported_class(cls: Class) -> dict[str, Any]:
    return {
        "@id": class_iri(cls),
        "@type": "Class",
        "title": cls.title,
        "description": cls.description,
        "supportedProperty": [_supported_property(cls, p) for p in cls.properties],
        "supportedOperation": [_operation(op) for op in cls.operations],
    }


def api_documentation(base: str) -> dict[str, Any]:
    """Return the ApiDocumentation of the API served from ``base``."""
    context = {"vocab": vocab_iri(base), **PREFIXES, **DOC_TERMS}
    collection = {
        "@id": "hydra:Collection",
        "@type": "Class",
        "title": "Collection",
        "description": "A paged collection of resources",
        "supportedProperty": [],
        "supportedOperation": [],
    }
    return {
        "@context": context,
        "@id": f"{base}{VOCAB_PATH}",
        "@type": "ApiDocumentation",
        "title": TITLE,
        "description": DESCRIPTION,
        "entrypoint": f"{base}/",
        "supportedClass": [_supported_class(c) for c in dlcs.CLASSES] + [collection],
    }
