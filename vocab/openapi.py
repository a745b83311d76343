"""Derive an OpenAPI 3 description of the API from the vocabulary.

The same declarations that give the contexts and the Hydra documentation give the paths,
operations, parameters, request and response schemas here, so the two descriptions of the
API cannot disagree.
"""

from __future__ import annotations

from typing import Any

from vocab import dlcs
from vocab.apidoc import DESCRIPTION, TITLE
from vocab.model import COLLECTION, NOTHING, Class, Operation, Prop, path_variables

JSONLD = "application/ld+json"
NO_BODY = {204, 205}
ID_PATTERN = "^[^\\x00-\\x1f/]{1,255}$"


def _scalar(range_: str) -> dict[str, Any]:
    scalars: dict[str, dict[str, Any]] = {
        "xsd:string": {"type": "string"},
        "xsd:integer": {"type": "integer"},
        "xsd:nonNegativeInteger": {"type": "integer", "minimum": 0},
        "xsd:boolean": {"type": "boolean"},
        "xsd:dateTime": {"type": "string", "format": "date-time"},
    }
    return scalars.get(range_, {"type": "string", "format": "uri"})


def _property(prop: Prop) -> dict[str, Any]:
    if prop.datatype is None and not prop.link:
        item: dict[str, Any] = {"$ref": f"#/components/schemas/{prop.range}"}
    else:
        item = _scalar(prop.datatype or "link")
    if prop.choices:
        item = {**item, "enum": list(prop.choices)}
    if prop.length_limit is not None and not prop.readonly:
        item = {**item, "maxLength": prop.length_limit}
    schema: dict[str, Any] = {"type": "array", "items": item} if prop.multiple else dict(item)
    if prop.items_limit is not None and not prop.readonly:
        schema["maxItems"] = prop.items_limit
    if prop.readonly:
        schema["readOnly"] = True
    if prop.writeonly:
        schema["writeOnly"] = True
    schema["description"] = prop.description
    return schema


def _class_schema(cls: Class) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "@context": {"type": "string", "format": "uri"},
        "@id": {"type": "string", "format": "uri"},
        "@type": {"type": "string"},
    }
    properties.update({p.name: _property(p) for p in cls.properties})
    schema: dict[str, Any] = {
        "type": "object",
        "description": cls.description,
        "properties": properties,
    }
    required = [p.name for p in cls.properties if p.required]
    if required:
        schema["required"] = required
    return schema


def _collection_schema(member: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["@id", "@type", "totalItems", "member", "view"],
        "properties": {
            "@context": {"type": "string"},
            "@id": {"type": "string", "format": "uri"},
            "@type": {"type": "string", "enum": ["Collection"]},
            "totalItems": {"type": "integer", "minimum": 0},
            "member": {"type": "array", "items": {"$ref": f"#/components/schemas/{member}"}},
            "view": {"type": "object"},
            "search": {"type": "object"},
            "memberAssertion": {"type": "object"},
        },
    }


def _path_parameter(name: str) -> dict[str, Any]:
    range_ = dlcs.PATH_VARIABLES[name]
    schema = (
        {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
        if range_ != "xsd:string"
        else {"type": "string", "pattern": ID_PATTERN}
    )
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(member: Class) -> list[dict[str, Any]]:
    params = [
        {"name": dlcs.PAGE, "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {
            "name": dlcs.PAGE_SIZE,
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": dlcs.MAX_PAGE_SIZE},
        },
    ]
    orderable = [p.name for p in member.properties if p.orderable]
    if orderable:
        for name in (dlcs.ORDER_BY, dlcs.ORDER_BY_DESCENDING):
            params.append(
                {"name": name, "in": "query", "schema": {"type": "string", "enum": orderable}}
            )
    for prop in member.properties:
        if prop.filterable:
            schema = _scalar(prop.datatype or "xsd:string")
            if prop.choices:
                schema = {**schema, "enum": list(prop.choices)}
            params.append({"name": prop.name, "in": "query", "schema": schema})
    for extra in member.filters:
        params.append({"name": extra.name, "in": "query", "schema": {"type": "boolean"}})
    return params


def _schema_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(
    op: Operation, path_params: list[dict[str, Any]], extra: list[dict[str, Any]]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in op.statuses:
        response: dict[str, Any] = {"description": status.description}
        if status.code >= 400:
            response["content"] = {JSONLD: {"schema": _schema_ref("Error")}}
        elif status.code not in NO_BODY and op.returns != NOTHING:
            returned = op.returns.removeprefix("vocab:")
            schema = _schema_ref(returned) if op.returns != COLLECTION else {"type": "object"}
            response["content"] = {JSONLD: {"schema": schema}}
        responses[str(status.code)] = response
    node: dict[str, Any] = {
        "summary": op.title,
        "description": op.description or op.title,
        "parameters": path_params + extra,
        "responses": responses,
    }
    if op.expects and op.expects != COLLECTION:
        schema = _schema_ref(op.expects.removeprefix("vocab:"))
        node["requestBody"] = {"required": True, "content": {JSONLD: {"schema": schema}}}
    elif op.expects == COLLECTION:
        node["requestBody"] = {
            "required": True,
            "content": {JSONLD: {"schema": _schema_ref("QueueSubmission")}},
        }
    if any(s.code == 401 for s in op.statuses):
        node["security"] = [{"basic": []}]
    return node


def openapi(base: str) -> dict[str, Any]:
    """Return the OpenAPI 3 description of the API served from ``base``."""
    paths: dict[str, Any] = {}
    for cls in dlcs.CLASSES:
        if cls.path and cls.operations:
            params = [_path_parameter(v) for v in path_variables(cls.path)]
            paths[cls.path] = {
                op.method.lower(): _operation(op, params, []) for op in cls.operations
            }
        for prop in cls.collections:
            params = [_path_parameter(v) for v in path_variables(prop.path or "")]
            member = dlcs.get(prop.member or "")
            item = paths.setdefault(prop.path or "", {})
            for op in prop.operations:
                query = _query_parameters(member) if op.method == "GET" else []
                item[op.method.lower()] = _operation(op, params, query)
                if op.method == "GET":
                    item["get"]["responses"]["200"]["content"] = {
                        JSONLD: {"schema": _collection_schema(member.name)}
                    }
    schemas = {c.name: _class_schema(c) for c in dlcs.CLASSES}
    member_schema = {
        "type": "object",
        "required": ["id", "space"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN},
            "space": {"type": "integer", "minimum": 0},
            **{p.name: _property(p) for p in dlcs.get("Image").properties if not p.readonly},
        },
    }
    schemas["QueueSubmission"] = {
        "type": "object",
        "required": ["member"],
        "properties": {
            "@type": {"type": "string"},
            "member": {"type": "array", "minItems": 1, "items": member_schema},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": TITLE, "description": DESCRIPTION, "version": "1.0"},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
    }
