"""The built-in console: any resource as an HTML page, with forms for its operations.

Nothing here is written per class. The page shows a document's properties (every link as a
link) and builds a form for each operation the API documentation declares for the
document's class, or for the link property that leads to a collection, at run time. The
forms are sent by a little plain JavaScript with the credentials given on the page.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flask import render_template, request

from app.web import jsonld, links
from vocab import dlcs

COOKIE = "dlcs_console"


@lru_cache(maxsize=16)
def _documentation(base: str) -> dict[str, Any]:
    return json.loads(jsonld.documentation_bytes(base))


def _expand(compact: str, base: str) -> str:
    prefix, _, rest = compact.partition(":")
    return f"{base}/vocab#{rest}" if prefix == "vocab" else compact


def _class_node(doc_type: str, base: str) -> dict[str, Any] | None:
    wanted = {doc_type, f"vocab:{doc_type}", _expand(doc_type, base)}
    for node in _documentation(base)["supportedClass"]:
        if node["@id"] in wanted or _expand(node["@id"], base) in wanted:
            return node
    return None


def _collection_link(path: str, base: str) -> dict[str, Any] | None:
    """Return the documented link property whose collection is at ``path``."""
    for cls in dlcs.CLASSES:
        for prop in cls.collections:
            if links.parse(base + path, prop.path or "") is not None:
                node = _class_node(cls.name, base)
                for supported in (node or {}).get("supportedProperty", []):
                    if supported["title"] == prop.name:
                        return supported["property"]
    return None


def _fields(class_id: str, base: str, method: str) -> list[dict[str, Any]]:
    node = _class_node(class_id.removeprefix("vocab:"), base) if class_id else None
    if node is None:
        return []
    fields = []
    for supported in node["supportedProperty"]:
        if not supported["writable"]:
            continue
        prop = supported["property"]
        fields.append(
            {
                "name": supported["title"],
                "description": supported["description"],
                "range": prop["range"],
                "link": prop["@type"] == "Link",
                "required": supported["required"] and method != "PATCH",
            }
        )
    return fields


def _operations(doc: dict[str, Any], base: str) -> list[dict[str, Any]]:
    types = doc.get("@type", [])
    types = types if isinstance(types, list) else [types]
    if "Collection" in types:
        link = _collection_link(request.path, base)
        declared = (link or {}).get("supportedOperation", [])
    else:
        node = _class_node(types[0], base) if types else None
        declared = (node or {}).get("supportedOperation", [])
    forms = []
    for op in declared:
        if op["method"] in ("GET", "HEAD"):
            continue
        forms.append(
            {
                "method": op["method"],
                "title": op["title"],
                "fields": _fields(op.get("expects", ""), base, op["method"]),
            }
        )
    return forms


def _rows(node: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in node.items() if not k.startswith("@")]


def _media(doc: dict[str, Any], base: str) -> dict[str, str] | None:
    """Return what the page of an audio, video or file asset plays or links (its kind and
    URL), once ingested; None for anything else."""
    if doc.get("@type") != "Image" or doc.get("ingesting") or doc.get("error"):
        return None
    keys = links.parse(doc.get("@id", ""), dlcs.get("Image").path or "")
    if keys is None or "finished" not in doc:
        return None
    manifest = links.media_url(base, keys, "file").replace("/file/", "/iiif-manifest/", 1)
    if doc.get("family") == "F":
        return {"kind": "file", "url": links.media_url(base, keys, "file"), "manifest": manifest}
    policy = str(doc.get("imageOptimisationPolicy", "")).rsplit("/", 1)[-1]
    channel = links.POLICY_CHANNELS.get(policy) if doc.get("family") == "T" else None
    if channel is None:
        return None
    kind = "video" if channel == "mp4" else "audio"
    return {"kind": kind, "url": links.media_url(base, keys, channel), "manifest": manifest}


def render(doc: Any, status: int) -> bytes:
    """Return the console page of a JSON-LD document."""
    base = jsonld.base_url()
    context = {
        "doc": doc,
        "base": base,
        "status": status,
        "rows": _rows(doc) if isinstance(doc, dict) else [],
        "operations": _operations(doc, base) if isinstance(doc, dict) else [],
        "media": _media(doc, base) if isinstance(doc, dict) else None,
        "source": json.dumps(doc, indent=2, ensure_ascii=False),
        "cookie": COOKIE,
    }
    return render_template("console.html", **context).encode()
