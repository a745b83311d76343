"""IRIs of resources: built from path templates of the vocabulary, and parsed back to keys."""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from app.web.jsonld import base_url
from vocab import dlcs
from vocab.model import Class, path_variables

# Where delivery serves what is made or kept of audio, video and files (app.delivery.media):
# a transcode below /iiif-av/{customer}/{space}/{image}/, by channel; a file at /file/....
AV_PATHS = {"mp4": "full/full/max/max/0/default.mp4", "mp3": "full/max/default.mp3"}
POLICY_CHANNELS = {"video-max": "mp4", "audio-max": "mp3"}


def media_url(base: str, keys: Any, channel: str) -> str:
    """Return the URL of an asset's media of ``channel`` ("mp4", "mp3" or "file")."""
    path = "/".join((str(keys["customer"]), str(keys["space"]), _segment(keys["image"])))
    if channel == "file":
        return f"{base}/file/{path}"
    return f"{base}/iiif-av/{path}/{AV_PATHS[channel]}"


@cache
def _template(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a path template into its literal parts and its variables, once."""
    parts, names = [], []
    rest = path
    for name in path_variables(path):
        before, rest = rest.split("{" + name + "}", 1)
        parts.append(before)
        names.append(name)
    parts.append(rest)
    return tuple(parts), tuple(names)


# Characters a path segment carries as they are (RFC 3986 unreserved): most identifiers.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*").fullmatch


def _segment(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if _UNRESERVED(text) else quote(text, safe="")


def iri(path: str, values: Any, last: Any = None, *, base: str | None = None) -> str:
    """Return the absolute IRI of ``path``, filled from ``values`` and ``last``.

    ``values`` maps path variables (a row of the linking resource); ``last``, if given,
    fills the last variable. ``base``: the base URL, when the caller has it already.
    """
    parts, names = _template(path)
    out = [base if base is not None else base_url(), parts[0]]
    final = len(names) - 1
    for position, name in enumerate(names):
        value = last if last is not None and position == final else values[name]
        out.append(_segment(value))
        out.append(parts[position + 1])
    return "".join(out)


def resource_iri(cls: Class, keys: Any, *, base: str | None = None) -> str:
    """Return the IRI of the resource of ``cls`` with the given key values."""
    return iri(cls.path or "", keys, base=base)


def example(path: str, scope: Any) -> str:
    """Return ``path`` as an IRI with the variables known from ``scope`` filled in."""
    filled = path
    for name in path_variables(path):
        if name in scope:
            filled = filled.replace("{" + name + "}", quote(str(scope[name]), safe=""), 1)
    return base_url() + filled


@cache
def _pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts) + "/?")


def parse(value: str, path: str) -> dict[str, Any] | None:
    """Return the typed path variables of an IRI on this server matching ``path``, or None."""
    base = base_url()
    if not value.startswith(base + "/"):
        return None
    match = _pattern(path).fullmatch(value[len(base) :])
    if match is None:
        return None
    found: dict[str, Any] = {}
    for name, raw in match.groupdict().items():
        text = unquote(raw)
        if any(ord(ch) < 32 for ch in text):
            return None
        if dlcs.PATH_VARIABLES[name] == "xsd:string":
            found[name] = text
        elif text.isdigit():
            found[name] = int(text)
        else:
            return None
    return found
