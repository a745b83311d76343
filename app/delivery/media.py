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

from functools import partial

from app.delivery.access import CHALLENGE
from app.delivery.served import Asked, Delivery, ImageKey, Reply, image_key
from app.storage.media import Asset, asset
from app.web.errors import ApiError

# The paths below an asset's, for each channel (what a transcode is named after).
AV_PATHS = {
    ("full", "full", "max", "max", "0", "default.mp4"): "mp4",
    ("full", "max", "default.mp3"): "mp3",
}
WHAT = {"mp4": "video (MP4)", "mp3": "audio (MP3)", "file": "file"}


def route(delivery: Delivery, asked: Asked, rest: list[str], *, file: bool) -> Reply:
    """Answer ``/iiif-av/...`` (``file`` false) or ``/file/...``."""
    image, tail = image_key(rest[:3]), rest[3:]
    if file:
        if tail:
            raise ApiError(404, "A file's path is /file/{customer}/{space}/{image}.")
        channel = "file"
    else:
        found = AV_PATHS.get(tuple(tail))
        if found is None:
            raise ApiError(
                404,
                "Audio and video are at /iiif-av/{customer}/{space}/{image}/full/full/max/max/0/"
                "default.mp4 (video) and /iiif-av/{customer}/{space}/{image}/full/max/"
                "default.mp3 (audio).",
            )
        channel = found
    registered = _asset(delivery, image)
    media = registered.media.get(channel)
    if media is None:
        kinds = ", ".join(WHAT[c] for c in sorted(registered.media)) or "nothing"
        raise ApiError(404, f"The {image.name()} has no {WHAT[channel]}: it has {kinds}.")
    restricted = bool(registered.roles) or registered.max_unauthorised >= 0
    if restricted:
        _allow(delivery, image, registered, asked)
    return Reply(
        b"",
        media.media_type,
        tag=(registered.generation, channel),
        private=restricted,
        stream=partial(delivery.files.stream, media.key),
        length=media.size,
    )


def _asset(delivery: Delivery, image: ImageKey) -> Asset:
    # The asset and its media; 404 saying why there is nothing to serve.
    found = asset(delivery.reader, image.keys())
    if found is None:
        raise ApiError(404, f"There is no {image.name()}.")
    if found.ingesting:
        raise ApiError(404, f"The {image.name()} is being ingested; ask again once it is.")
    if found.error:
        raise ApiError(404, f"The ingest of the {image.name()} failed: {found.error}")
    return found


def _allow(delivery: Delivery, image: ImageKey, registered: Asset, asked: Asked) -> None:
    # 401 without a session of the customer, 403 with one holding none of the asset's roles.
    held = delivery.sessions.held(asked.environ, image.customer, token=asked.head)
    if held is None:
        raise ApiError(
            401,
            f"The {image.name()} needs a session of its customer; sign in through its access "
            "service.",
            headers=CHALLENGE,
        )
    if registered.roles and not held & registered.roles:
        raise ApiError(403, f"This session holds none of the roles the {image.name()} needs.")
