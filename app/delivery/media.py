"""Audio, video and files, at the real DLCS's paths.

- ``/iiif-av/{c}/{s}/{id}/full/full/max/max/0/default.mp4``: a video's transcode (video-max);
- ``/iiif-av/{c}/{s}/{id}/full/max/default.mp3``: an audio's transcode (audio-max);
- ``/file/{c}/{s}/{id}``: a file's origin, kept as it was registered (family F).

GET and HEAD, whole or by ``Range`` (:meth:`app.delivery.served.Delivery.send`), read from
storage a chunk at a time as they are sent. Access as the DLCS has it: an asset with roles,
or with ``maxUnauthorised`` of 0 or more, needs a session of its customer (one holding one of
its roles, if it has any); there is no open size of a recording or a document. A GET takes
the session's cookie only (a ``<video>`` element sends no bearer token), a HEAD the cookie or
the access token (a viewer probes with HEAD).
"""

from __future__ import annotations

import functools
from functools import partial

import pyvips

from app.delivery.access import CHALLENGE
from app.delivery.served import Asked, Delivery, ImageKey, Reply, image_key
from app.storage.media import ASSET, Asset, asset_of
from app.web.errors import ApiError
from app.web.links import AV_PATHS

# The paths below an asset's, for each channel (what a transcode is named after).
_CHANNELS = {tuple(path.split("/")): channel for channel, path in AV_PATHS.items()}
# What paints the canvas of an asset that is only a file (a document's page, drawn once).
PLACEHOLDER, PLACEHOLDER_SIDE = "/file/placeholder.png", 1000
WHAT = {"mp4": "video (MP4)", "mp3": "audio (MP3)", "file": "file"}


def route(delivery: Delivery, asked: Asked, rest: list[str], *, file: bool) -> Reply:
    """Answer ``/iiif-av/...`` (``file`` false) or ``/file/...``."""
    if file and rest == [PLACEHOLDER.rsplit("/", 1)[1]]:
        return Reply(placeholder(), "image/png", tag=("placeholder",), max_age=86_400)
    image, tail = image_key(rest[:3]), rest[3:]
    if file:
        if tail:
            raise ApiError(404, "A file's path is /file/{customer}/{space}/{image}.")
        channel = "file"
    else:
        named = _CHANNELS.get(tuple(tail))
        if named is None:
            raise ApiError(
                404,
                "Audio and video are at /iiif-av/{customer}/{space}/{image}/full/full/max/max/0/"
                "default.mp4 (video) and /iiif-av/{customer}/{space}/{image}/full/max/"
                "default.mp3 (audio).",
            )
        channel = named
    found = registered(delivery, image)
    media = found.media.get(channel)
    if media is None:
        kinds = ", ".join(WHAT[c] for c in sorted(found.media)) or "nothing"
        raise ApiError(404, f"The {image.name()} has no {WHAT[channel]}: it has {kinds}.")
    if found.restricted:
        allow(delivery, image, found, asked)
    return Reply(
        b"",
        media.media_type,
        tag=(found.generation, channel),
        private=found.restricted,
        stream=partial(delivery.files.stream, media.key),
        length=media.size,
    )


@functools.cache
def placeholder() -> bytes:
    """Return the PNG that stands for a document on a canvas: a page on grey."""
    side = PLACEHOLDER_SIDE
    drawn = pyvips.Image.black(side, side, bands=3).new_from_image([228, 228, 228])
    drawn = drawn.draw_rect([255, 255, 255], 250, 150, 500, 700, fill=True)
    for top in range(260, 780, 60):
        drawn = drawn.draw_rect([200, 200, 200], 320, top, 360, 16, fill=True)
    return bytes(drawn.cast("uchar").pngsave_buffer(compression=9))


def registered(delivery: Delivery, image: ImageKey) -> Asset:
    """Return an asset and its media; 404 saying why there is nothing to serve."""
    found = asset_of(delivery.rows(ASSET, image.keys()))
    if found is None:
        raise ApiError(404, f"There is no {image.name()}.")
    if found.ingesting:
        raise ApiError(404, f"The {image.name()} is being ingested; ask again once it is.")
    if found.error:
        raise ApiError(404, f"The ingest of the {image.name()} failed: {found.error}")
    return found


def allow(
    delivery: Delivery, image: ImageKey, registered: Asset, asked: Asked, *, token: bool = False
) -> None:
    """Fail with 401 without a session of the asset's customer, 403 with one that holds none
    of its roles (if it has any). A bearer token is taken for HEAD, and where ``token`` says
    (the probe)."""
    held = delivery.sessions.held(asked.environ, image.customer, token=token or asked.head)
    if held is None:
        raise ApiError(
            401,
            f"The {image.name()} needs a session of its customer; sign in through its access "
            "service.",
            headers=CHALLENGE,
        )
    if registered.roles and not held & registered.roles:
        raise ApiError(403, f"This session holds none of the roles the {image.name()} needs.")
