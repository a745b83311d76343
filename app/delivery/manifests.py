"""IIIF Presentation 3 manifests of images: a named query's results, or one image.

- ``/iiif-resource/[v3/]{customer}/{name}/{arguments...}``: the customer's named query
  ``name`` (else the global one of that name, :mod:`app.storage.named_queries`) run with the
  path's arguments; a manifest of the images it matches, in its order, one canvas each.
- ``/iiif-manifest/[v3/]{customer}/{space}/{image}``: a manifest of one image.

Only images ingested as images without an error become canvases. Each canvas has the image's
width and height, its metadata (String 1..3, Number 1..3, Tags, Roles), a thumbnail from the
thumbnail service (one open to anyone where the image has roles, when it has such a size),
and an annotation painting the image with its Image API 3 service, which for an image with
roles carries the IIIF Auth 2 services its info.json declares. A canvas's id is the same in
every manifest the image is in. The images, the thumbnail policies and the roles are read in
one query each, whatever the number of canvases.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, select

from app.delivery import auth, iiif
from app.delivery.media import PLACEHOLDER, PLACEHOLDER_SIDE, registered
from app.delivery.served import Asked, Delivery, ImageKey, Reply, image_key, number, sent
from app.storage.media import Media, media_of
from app.storage.models import CHILDREN, TABLES
from app.storage.named_queries import TemplateError, bind, images, parse
from app.storage.store import store
from app.web.errors import ApiError
from app.web.jsonld import JSONLD, dumps
from app.web.links import media_url

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
MEDIA_TYPE = f'{JSONLD};profile="{CONTEXT}"'
# The thumbnail a canvas shows: the largest made no larger than this (else the smallest).
THUMBNAIL = 400
_UNLIMITED = iiif.Limits(max_width=10**9, max_height=10**9, max_area=10**18)
_QUERIES = TABLES["NamedQuery"]
_GLOBAL_QUERIES = TABLES["GlobalNamedQuery"]
_POLICY_SIZES = CHILDREN["ThumbnailPolicy"]["sizes"]
_METADATA = (
    ("String 1", "string1"),
    ("String 2", "string2"),
    ("String 3", "string3"),
    ("Number 1", "number1"),
    ("Number 2", "number2"),
    ("Number 3", "number3"),
    ("Tags", "tags"),
    ("Roles", "roles"),
)


def route(delivery: Delivery, asked: Asked, segments: list[str], *, single: bool) -> Reply:
    """Answer a request below ``/iiif-resource`` (``single``: below ``/iiif-manifest``)."""
    if segments[:1] == ["v2"]:
        raise ApiError(
            501, "Presentation 2 manifests are not made here: ask for v3 (or no version)."
        )
    if segments[:1] == ["v3"]:
        segments = segments[1:]
    if single:
        return one_image(delivery, asked, segments)
    customer = number(segments[0]) if segments else None
    if customer is None or len(segments) < 2 or not segments[1]:
        raise ApiError(
            404, "Named query results are at /iiif-resource/v3/{customer}/{name}/{arguments...}."
        )
    arguments = segments[2:]
    while arguments and not arguments[-1]:  # (a trailing slash)
        arguments.pop()
    if "" in arguments:
        place = arguments.index("") + 1
        raise ApiError(400, f"Argument p{place} is empty.", violations=[(f"p{place}", "is empty")])
    return named_query(delivery, asked, customer, segments[1], arguments)


def named_query(
    delivery: Delivery, asked: Asked, customer: int, name: str, arguments: list[str]
) -> Reply:
    """Answer with the manifest of a named query's results; 404 when nothing matches."""
    limit = int(delivery.config["MANIFEST_MAX_CANVASES"])
    with delivery.reader.connect() as conn:
        text = _template(conn, customer, name)
        try:
            bound = bind(parse(text), arguments)
        except TemplateError as exc:
            raise ApiError(
                400, f"The named query {name} cannot run: {exc}", violations=exc.faults
            ) from None
        rows = images(conn, customer, bound, limit + 1)
        if len(rows) > limit:
            raise ApiError(
                400,
                f"The named query {name} matches more than {limit} images, the most a manifest "
                "holds (DLCS_MANIFEST_MAX_CANVASES): give arguments that match fewer.",
            )
        if not rows:
            asked_for = "/".join([name, *arguments])
            raise ApiError(
                404, f"No image of customer {customer} that can be shown matches {asked_for}."
            )
        items, found = _canvases(conn, asked.base, customer, rows)
    label = f"Generated from '{name}' named query"
    named_by = bound.manifest_value()
    if named_by:
        label += f": {named_by}"
    return _reply(delivery, asked, label, customer, items, found)


def one_image(delivery: Delivery, asked: Asked, segments: list[str]) -> Reply:
    """Answer with the manifest of one image; 404 saying why it cannot be shown."""
    image = image_key(segments)
    # (404 for no such image, one not ingested, one that failed, or one with nothing to show)
    if not registered(delivery, image).media:
        delivery.registration(image)
    with delivery.reader.connect() as conn:
        row = store("Image").get(conn, image.keys())
        if row is None:  # (deleted since)
            raise ApiError(404, f"There is no {image.name()}.")
        items, found = _canvases(conn, asked.base, image.customer, [row])
    return _reply(delivery, asked, image.image, image.customer, items, found)


def _template(conn: Connection, customer: int, name: str) -> str:
    own = select(_QUERIES.c.queryTemplate).where(
        _QUERIES.c.customer == customer, _QUERIES.c.namedQuery == name
    )
    found = conn.execute(own).scalar()
    if found is None:
        shared = select(_GLOBAL_QUERIES.c.queryTemplate).where(
            _GLOBAL_QUERIES.c.globalNamedQuery == name
        )
        found = conn.execute(shared).scalar()
    if found is None:
        raise ApiError(
            404, f"Customer {customer} has no named query {name}, nor is there a global one."
        )
    return str(found)


def _reply(
    delivery: Delivery,
    asked: Asked,
    label: str,
    customer: int,
    items: bytes,
    roles: Mapping[str, Mapping[str, Any]],
) -> Reply:
    manifest: dict[str, Any] = {
        "@context": CONTEXT,
        "id": asked.base + sent(asked.environ).partition("?")[0],
        "type": "Manifest",
        "label": {"en": [label]},
        "items": orjson.Fragment(items),
    }
    if _PROBE in items:  # (the Auth 2 context and access services where something is restricted)
        manifest["@context"] = [auth.CONTEXT, CONTEXT]
        services = auth.access_services(asked.base, customer, sorted(roles), roles)
        if services:
            manifest["services"] = services
    body = dumps(manifest)
    # (what a manifest says changes with any of its images: its tag is its bytes')
    tag = (hashlib.blake2b(body, digest_size=16).hexdigest(),)
    max_age = int(delivery.config["MANIFEST_MAX_AGE"])
    return Reply(body, MEDIA_TYPE, tag=tag, max_age=max_age)


_PROBE = b'"AuthProbeService2"'


def _canvases(
    conn: Connection, base: str, customer: int, rows: list[dict[str, Any]]
) -> tuple[bytes, dict[str, dict[str, Any]]]:
    """Return the JSON array of a canvas for each image row, in their order, and the rows of
    the roles they name.

    Each canvas is serialised as soon as it is made: holding every canvas's objects until the
    end had Python's garbage collector walk them again and again, and a manifest of 10,000
    canvases took 1.2 s against 0.04 s for 1,000 (bench/RESULTS.md, 2026-12-07).
    """
    policies = _policy_sizes(conn)
    roles = {role for row in rows for role in row["roles"]}
    found = auth.roles_of(conn, customer, roles) if roles else {}
    assets = [(row["space"], row["image"]) for row in rows if not row.get("thumbnailPolicy")]
    kept = media_of(conn, customer, assets) if assets else {}
    made = (
        dumps(
            canvas(
                base,
                row,
                policies.get(row["thumbnailPolicy"], ()),
                found,
                kept.get((int(row["space"]), str(row["image"]))),
            )
        )
        for row in rows
    )
    return b"[" + b",".join(made) + b"]", found


def _policy_sizes(conn: Connection) -> dict[str, tuple[int, ...]]:
    query = select(_POLICY_SIZES.c.thumbnailPolicy, _POLICY_SIZES.c.value)
    sizes: dict[str, list[int]] = {}
    for policy, size in conn.execute(query):
        sizes.setdefault(policy, []).append(int(size))
    return {policy: tuple(found) for policy, found in sizes.items()}


def canvas(
    base: str,
    row: Mapping[str, Any],
    policy_sizes: tuple[int, ...],
    roles: Mapping[str, Mapping[str, Any]],
    media: Mapping[str, Media] | None = None,
) -> dict[str, Any]:
    """Return the canvas of one image (``row``: its resource's values), whose thumbnails were
    made at ``policy_sizes``; ``roles``: the rows of its customer's roles; ``media``: what is
    delivered of an audio, video or file asset, by channel."""
    image = ImageKey(int(row["customer"]), int(row["space"]), str(row["image"]))
    path = image.url("", "")  # (/{customer}/{space}/{image}, below each service's root)
    canvas_id = f"{base}/iiif-manifest{path}/canvas/c/0"
    if media:
        return _media_canvas(base, image, row, roles, media)
    width, height = int(row["width"]), int(row["height"])
    service: dict[str, Any] = {
        "id": f"{base}/iiif-img{path}",
        "type": "ImageService3",
        "profile": "level2",
    }
    thumbnail_service: dict[str, Any] = {
        "id": f"{base}/thumbs{path}",
        "type": "ImageService3",
        "profile": "level0",
    }
    open_side = None
    if row["roles"]:
        probe = auth.described(base, image, row["roles"], roles)
        service["service"] = thumbnail_service["service"] = [probe]
        open_side = max(0, int(row["maxUnauthorised"]))
    result: dict[str, Any] = {
        "id": canvas_id,
        "type": "Canvas",
        "label": {"none": [image.image]},
        "width": width,
        "height": height,
        "metadata": _metadata(row),
    }
    thumbnail = _thumbnail(width, height, policy_sizes, open_side)
    if thumbnail is not None:
        tw, th, side = thumbnail
        result["thumbnail"] = [
            {
                "id": f"{thumbnail_service['id']}/full/!{side},{side}/0/default.jpg",
                "type": "Image",
                "format": "image/jpeg",
                "width": tw,
                "height": th,
                "service": [thumbnail_service],
            }
        ]
    result["items"] = [
        {
            "id": f"{canvas_id}/page",
            "type": "AnnotationPage",
            "items": [
                {
                    "id": f"{canvas_id}/page/image",
                    "type": "Annotation",
                    "motivation": "painting",
                    "target": canvas_id,
                    "body": {
                        "id": f"{service['id']}/full/max/0/default.jpg",
                        "type": "Image",
                        "format": "image/jpeg",
                        "width": width,
                        "height": height,
                        "service": [service],
                    },
                }
            ],
        }
    ]
    return result


def _media_canvas(
    base: str,
    image: ImageKey,
    row: Mapping[str, Any],
    roles: Mapping[str, Mapping[str, Any]],
    media: Mapping[str, Media],
) -> dict[str, Any]:
    """Return the canvas of an audio, video or file asset.

    A Video canvas (width, height, duration in seconds) or a Sound canvas (duration) painted
    with the transcodes (a Choice of them when there are several); a file is the canvas's
    ``rendering`` and, when the asset is only a file, it is painted with a placeholder. A
    restricted asset's bodies carry its Auth 2 probe service.
    """
    path = image.url("", "")
    canvas_id = f"{base}/iiif-manifest{path}/canvas/c/0"
    restricted = bool(row["roles"]) or int(row["maxUnauthorised"]) >= 0
    probe = [auth.described(base, image, row["roles"], roles)] if restricted else None
    result: dict[str, Any] = {
        "id": canvas_id,
        "type": "Canvas",
        "label": {"none": [image.image]},
    }
    bodies = []
    for channel, kind in (("mp4", "Video"), ("mp3", "Sound")):
        made = media.get(channel)
        if made is None:
            continue
        body: dict[str, Any] = {
            "id": media_url(base, image.keys(), channel),
            "type": kind,
            "format": made.media_type,
            "duration": (made.duration or 0) / 1000,
        }
        if kind == "Video":
            body.update(width=made.width, height=made.height)
            result.update(width=made.width, height=made.height)
        if probe:
            body["service"] = probe
        bodies.append(body)
    if bodies:
        result["duration"] = max(body["duration"] for body in bodies)
        painted = bodies[0] if len(bodies) == 1 else {"type": "Choice", "items": bodies}
    else:  # (only a file: a placeholder to show for it)
        side = PLACEHOLDER_SIDE
        result.update(width=side, height=side)
        painted = {
            "id": f"{base}{PLACEHOLDER}",
            "type": "Image",
            "format": "image/png",
            "width": side,
            "height": side,
        }
    result["metadata"] = _metadata(row)
    kept = media.get("file")
    if kept is not None:
        rendering: dict[str, Any] = {
            "id": media_url(base, image.keys(), "file"),
            "type": _rendering_type(kept.media_type),
            "label": {"none": [image.image]},
            "format": kept.media_type,
        }
        if probe:
            rendering["service"] = probe
        result["rendering"] = [rendering]
    result["items"] = [
        {
            "id": f"{canvas_id}/page",
            "type": "AnnotationPage",
            "items": [
                {
                    "id": f"{canvas_id}/page/media",
                    "type": "Annotation",
                    "motivation": "painting",
                    "target": canvas_id,
                    "body": painted,
                }
            ],
        }
    ]
    return result


def _rendering_type(media_type: str) -> str:
    # The Presentation 3 type of a file of this media type.
    major = media_type.split("/", 1)[0]
    kinds = {"image": "Image", "audio": "Sound", "video": "Video", "text": "Text"}
    if major in kinds:
        return kinds[major]
    return "Text" if media_type in _TEXTS else "Dataset"


_TEXTS = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/rtf",
        "application/epub+zip",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)


def _metadata(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"label": {"en": [label]}, "value": {"none": [_shown(row[name])]}}
        for label, name in _METADATA
    ]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@functools.lru_cache(maxsize=4096)
def _thumbnail(
    width: int, height: int, policy_sizes: tuple[int, ...], open_side: int | None
) -> tuple[int, int, int] | None:
    """Return the width, height and bounding square of the thumbnail a canvas shows: of the
    sizes ingest made (:func:`app.ingest.decode.make_thumbnails`), the largest no larger
    than THUMBNAIL, else the smallest; of an image with roles, only one open to anyone
    (``open_side``: the longest side open), and none when no size made is.

    Kept for the sizes it is given (the pages of a book are mostly of one size): it was a fifth
    of the time of a canvas.
    """
    longest = max(width, height)
    made = sorted({min(int(s), longest) for s in policy_sizes if int(s) > 0})
    if open_side is not None:
        made = [side for side in made if side <= open_side]
    if not made:
        return None
    fitting = [side for side in made if side <= THUMBNAIL]
    side = fitting[-1] if fitting else made[0]
    tw, th = iiif.parse_size(3, f"!{side},{side}", width, height, _UNLIMITED)
    return tw, th, side
