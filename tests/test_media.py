"""Audio, video and files (families T and F): ingested by the queue's workers, transcoded by
FFmpeg, delivered at /iiif-av and /file whole or by Range, to whoever may see them.

What is served is probed by FFmpeg (tests/media.py): the origins are formats no browser plays
(MPEG-2 video, PCM in a WAV), so what plays can only be the transcode.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.ingest import service
from app.storage.models import image_media
from app.web.sessions import cookie_name
from tests import media
from tests.test_access import session_of, sessions_of

VIDEO = "full/full/max/max/0/default.mp4"
AUDIO = "full/max/default.mp3"


def register(app, api, name: str, origin_url: str, family: str = "T", **more) -> dict:
    """PUT an asset of ``family`` and run the queue; return the image as it is then."""
    path = f"/customers/{api.customer}/spaces/1/images/{name}"
    r = api.put(path, {"origin": origin_url, "family": family, **more})
    assert r.status_code in (200, 201, 202), r.get_json()
    if family == "T":  # (never transcoded in the request: queued, 202)
        assert r.status_code == 202 and r.get_json()["ingesting"] is True
    app.extensions["dlcs.queue"].drain()
    return api.get(path).get_json()


def fetch(client, path: str, **headers: str):
    # (a client with no cookie jar of its own, which would replace a Cookie header)
    return client.application.test_client(use_cookies=False).get(path, headers=headers)


@pytest.fixture
def video(app, alice, origin):
    """Alice's video "v" (MPEG-2, 320x240, 2 s), ingested."""
    return register(app, alice, "v", origin.url("clip.mpg"))


def test_video_is_transcoded_to_h264_and_aac_in_an_mp4_that_starts_fast(
    client, alice, video, tmp_path
):
    assert video["error"] == "" and video["ingesting"] is False
    assert video["imageOptimisationPolicy"].endswith("/video-max")
    assert (video["width"], video["height"]) == (320, 240)
    assert 1900 <= video["duration"] <= 2200
    assert "imageService" not in video and "thumbnailPolicy" not in video
    r = fetch(client, f"/iiif-av/{alice.customer}/1/v/{VIDEO}")
    assert r.status_code == 200 and r.mimetype == "video/mp4"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cache-Control"].startswith("public")
    found = media.probe(r.data, tmp_path)
    assert found["video"] == "h264" and found["audio"] == "aac"
    assert (found["width"], found["height"], found["pix_fmt"]) == (320, 240, "yuv420p")
    assert 1.9 <= found["duration"] <= 2.2
    assert r.data.find(b"moov") < r.data.find(b"mdat")  # (the index first: fast start)


@pytest.mark.parametrize(
    ("size", "made"),
    [((1280, 960), (960, 720)), ((1920, 800), (1728, 720)), ((176, 144), (176, 144))],
)
def test_video_is_at_most_720_lines_its_shape_kept_never_enlarged(
    app, client, alice, origin, tmp_path, size, made
):
    name = f"sized-{size[0]}x{size[1]}.mpg"
    media.video(origin.folder / name, 0.4, size)
    doc = register(app, alice, "s", origin.url(name))
    assert (doc["width"], doc["height"]) == made, doc
    found = media.probe(fetch(client, f"/iiif-av/{alice.customer}/1/s/{VIDEO}").data, tmp_path)
    assert (found["width"], found["height"]) == made


def test_audio_is_transcoded_to_mp3_at_128_kbps_and_44_1_khz(app, client, alice, origin, tmp_path):
    doc = register(app, alice, "a", origin.url("sound.wav"))
    assert doc["error"] == "" and doc["imageOptimisationPolicy"].endswith("/audio-max")
    assert "width" not in doc and "height" not in doc
    assert 1900 <= doc["duration"] <= 2200
    r = fetch(client, f"/iiif-av/{alice.customer}/1/a/{AUDIO}")
    assert r.status_code == 200 and r.mimetype == "audio/mp3"
    found = media.probe(r.data, tmp_path)
    assert found["audio"] == "mp3" and "video" not in found
    assert found["rate"] == 44_100 and found["bit_rate"] == 128_000
    assert 1.9 <= found["duration"] <= 2.2
    # a recording has no video, a video no MP3 (by the policy DLCS applies to each)
    r = fetch(client, f"/iiif-av/{alice.customer}/1/a/{VIDEO}")
    assert r.status_code == 404 and "no video (MP4): it has audio (MP3)" in r.json["description"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("doc.pdf", "application/pdf"), ("notes.txt", "text/plain"), ("clip.mpg", "video/mpeg")],
)
def test_a_file_is_kept_and_served_as_it_was_registered(
    app, client, alice, origin, name, media_type
):
    doc = register(app, alice, "f", origin.url(name), family="F")
    assert doc["error"] == "" and "imageOptimisationPolicy" not in doc and "width" not in doc
    r = fetch(client, f"/file/{alice.customer}/1/f")
    assert r.status_code == 200 and r.mimetype == media_type
    assert r.data == (origin.folder / name).read_bytes()
    assert fetch(client, f"/iiif-av/{alice.customer}/1/f/{VIDEO}").status_code == 404


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fake.mp4", "could not be read as audio or video"),
        ("photo.jpg", "not audio or video: register it with family I"),
        ("notes.txt", "could not be read as audio or video"),
    ],
)
def test_an_origin_that_is_no_audio_or_video_is_an_error(app, client, alice, origin, name, message):
    doc = register(app, alice, "bad", origin.url(name))
    assert message in doc["error"], doc["error"]
    assert doc["ingesting"] is False and doc["duration"] == 0
    r = fetch(client, f"/iiif-av/{alice.customer}/1/bad/{VIDEO}")
    assert r.status_code == 404 and "failed" in r.json["description"]


def test_an_origin_longer_than_the_limit_is_refused(app, alice, origin):
    app.config["AV_MAX_SECONDS"] = 1
    app.extensions["dlcs.queue"].settings = service.settings_of(app)
    doc = register(app, alice, "long", origin.url("clip.mpg"))
    assert "over the limit of 1 s" in doc["error"] and "DLCS_AV_MAX_SECONDS" in doc["error"]


# -- Range --------------------------------------------------------------------------------------

RANGES = {
    # Range header: (status, first byte, last byte) of a file of n bytes; None: all
    "bytes=0-99": (206, 0, 99),
    "bytes=100-199": (206, 100, 199),
    "bytes=-100": (206, "n-100", "n-1"),
    "bytes=500-": (206, 500, "n-1"),
    "bytes=0-": (206, 0, "n-1"),
    "bytes=0-999999999": (206, 0, "n-1"),
    "bytes=0-0,10-19": (200, None, None),  # (several: the whole file)
    "bytes=9-2": (200, None, None),  # (malformed: ignored)
    "lines=0-9": (200, None, None),  # (not bytes: ignored)
}


def _at(value, n: int) -> int:
    return eval(value, {"n": n}) if isinstance(value, str) else value  # (noqa: the table's)


@pytest.mark.parametrize("asked", RANGES)
def test_range_requests(client, alice, video, asked):
    path = f"/iiif-av/{alice.customer}/1/v/{VIDEO}"
    whole = fetch(client, path).data
    n = len(whole)
    status, first, last = RANGES[asked]
    r = fetch(client, path, Range=asked)
    assert r.status_code == status
    if status == 206:
        start, end = _at(first, n), _at(last, n)
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{n}"
        assert r.data == whole[start : end + 1]
        assert r.headers["Content-Length"] == str(end + 1 - start)
    else:
        assert r.data == whole and "Content-Range" not in r.headers
    head = client.head(path, headers={"Range": asked})
    assert head.status_code == status and head.data == b""


def test_a_range_past_the_end_is_416_and_if_range_sends_a_changed_file_whole(client, alice, video):
    path = f"/iiif-av/{alice.customer}/1/v/{VIDEO}"
    whole = fetch(client, path)
    n, etag = len(whole.data), whole.headers["ETag"]
    r = fetch(client, path, Range=f"bytes={n}-")
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{n}"
    assert "not within the file's" in r.json["description"]
    same = fetch(client, path, Range="bytes=0-9", **{"If-Range": etag})
    assert same.status_code == 206 and same.data == whole.data[:10]
    for stale in ('"0123456789abcdef"', f"W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT"):
        r = fetch(client, path, Range="bytes=0-9", **{"If-Range": stale})
        assert r.status_code == 200 and r.data == whole.data
    assert fetch(client, path, **{"If-None-Match": etag}).status_code == 304


def test_reingest_replaces_the_transcode_and_its_etag_and_delete_removes_it(
    app, client, alice, origin, video
):
    c = alice.customer
    path = f"/iiif-av/{c}/1/v/{VIDEO}"
    before = fetch(client, path)
    media.video(origin.folder / "other.mpg", 1.0, (160, 120))
    doc = register(app, alice, "v", origin.url("other.mpg"))
    assert (doc["width"], doc["height"]) == (160, 120)
    after = fetch(client, path)
    assert after.status_code == 200 and after.data != before.data
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = fetch(client, path, Range="bytes=0-9", **{"If-Range": before.headers["ETag"]})
    assert stale.status_code == 200 and stale.data == after.data
    storage = app.extensions["dlcs.files"].root
    assert len(list(storage.rglob("default.mp4"))) == 1  # (the earlier registration's is gone)
    assert alice.delete(f"/customers/{c}/spaces/1/images/v").status_code == 205
    assert fetch(client, path).status_code == 404
    assert list(storage.rglob("default.mp4")) == []
    with app.extensions["dlcs.engine"].connect() as conn:
        assert conn.execute(select(func.count()).select_from(image_media)).scalar() == 0


def test_while_reingesting_nothing_of_the_earlier_registration_is_served(
    app, client, alice, origin, video
):
    c = alice.customer
    r = alice.put(
        f"/customers/{c}/spaces/1/images/v", {"origin": origin.url("clip.mpg"), "family": "T"}
    )
    assert r.status_code == 202
    r = fetch(client, f"/iiif-av/{c}/1/v/{VIDEO}")
    assert r.status_code == 404 and "being ingested" in r.json["description"]
    app.extensions["dlcs.queue"].drain()
    assert fetch(client, f"/iiif-av/{c}/1/v/{VIDEO}").status_code == 200


# -- paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/iiif-av/{c}/1/v/full/full/max/max/0/default.webm",
        "/iiif-av/{c}/1/v/full/max/default.mp4",
        "/iiif-av/{c}/1/v",
        "/iiif-av/{c}/1/v/full/full/max/max/0/default.mp4/more",
        "/iiif-av/{c}/1/nothing/full/full/max/max/0/default.mp4",
        "/iiif-av/{c}/x/v/full/full/max/max/0/default.mp4",
        "/file/{c}/1/v",
        "/file/{c}/1/v/more",
        "/file/{c}/1/nothing",
    ],
)
def test_unknown_paths_assets_and_channels_are_404_with_an_error_body(client, alice, video, path):
    r = fetch(client, path.format(c=alice.customer))
    assert r.status_code == 404 and r.json["@type"] == "Error" and r.json["description"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_an_image_has_no_file_and_no_transcode(app, client, alice, origin):
    register(app, alice, "i", origin.url("photo.jpg"), family="I")
    assert fetch(client, f"/file/{alice.customer}/1/i").status_code == 404
    assert fetch(client, f"/iiif-av/{alice.customer}/1/i/{VIDEO}").status_code == 404


# -- access -------------------------------------------------------------------------------------

CREDENTIALS = ("none", "cookie, role", "cookie, other role", "bearer token", "other customer")
ASSETS = {"open": ([], -1), "roles": (["reg"], -1), "zero": ([], 0), "both": (["reg"], 0)}


@pytest.fixture
def restricted(app, alice, bob, origin):
    """Alice's video under each access rule of ASSETS."""
    c = alice.customer  # (who has a role "reg")
    assert alice.put(f"/customers/{c}/roles/other", {}).status_code == 201
    assert bob.put(f"/customers/{bob.customer}/roles/reg", {}).status_code == 201
    for name, (roles, most) in ASSETS.items():
        body = {
            "origin": origin.url("clip.mpg"),
            "family": "T",
            "roles": [f"http://localhost/customers/{c}/roles/{r}" for r in roles],
            "maxUnauthorised": most,
        }
        assert alice.put(f"/customers/{c}/spaces/1/images/{name}", body).status_code == 202
    app.extensions["dlcs.queue"].drain()


def _headers(app, alice, bob, credential: str) -> dict[str, str]:
    c = alice.customer
    if credential == "none":
        return {}
    if credential == "other customer":
        return {"Cookie": f"{cookie_name(bob.customer)}={session_of(app, bob.customer, ['reg'])}"}
    cookie = session_of(app, c, ["other"] if credential == "cookie, other role" else ["reg"])
    if credential == "bearer token":
        return {"Authorization": f"Bearer {sessions_of(app).token_of(cookie)}"}
    return {"Cookie": f"{cookie_name(c)}={cookie}"}


def expected(asset: str, credential: str, method: str) -> int:
    roles, most = ASSETS[asset]
    if not roles and most < 0:
        return 200
    held = {
        "none": None,
        "cookie, role": {"reg"},
        "cookie, other role": {"other"},
        "bearer token": {"reg"} if method == "HEAD" else None,  # (a GET takes the cookie only)
        "other customer": None,
    }[credential]
    if held is None:
        return 401
    return 200 if not roles or held & set(roles) else 403


@pytest.mark.parametrize("asset", ASSETS)
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_access_to_audio_video_and_files(app, client, alice, bob, restricted, asset, credential):
    headers = _headers(app, alice, bob, credential)
    path = f"/iiif-av/{alice.customer}/1/{asset}/{VIDEO}"
    fresh = client.application.test_client(use_cookies=False)
    for method in ("GET", "HEAD"):
        r = fresh.open(path, method=method, headers=headers)
        assert r.status_code == expected(asset, credential, method), (method, r.data[:200])
        if r.status_code == 200:
            private = asset != "open"
            assert r.headers["Cache-Control"].startswith("private" if private else "public")
        else:
            assert not r.data.startswith(b"\x00\x00\x00")  # (no byte of the video)
            assert "no-cache" in r.headers["Cache-Control"]


# -- manifests ----------------------------------------------------------------------------------


@pytest.fixture
def shelf(app, alice, origin):
    """Alice's assets tagged "s1" = "shelf", in number1's order: an image, a video, an audio,
    a PDF, and a restricted video (role "reg"); and an audio still waiting for its transcode."""
    c = alice.customer
    role = f"http://localhost/customers/{c}/roles/reg"
    made = [
        ("img", "I", "photo.jpg", {}),
        ("vid", "T", "clip.mpg", {}),
        ("aud", "T", "sound.wav", {}),
        ("pdf", "F", "doc.pdf", {}),
        ("locked", "T", "clip.mpg", {"roles": [role]}),
    ]
    for n, (name, family, file, more) in enumerate(made):
        body = {"origin": origin.url(file), "family": family, "string1": "shelf", "number1": n}
        assert alice.put(
            f"/customers/{c}/spaces/1/images/{name}", {**body, **more}
        ).status_code in (
            201,
            202,
        )
    app.extensions["dlcs.queue"].drain()
    late = {"origin": origin.url("sound.wav"), "family": "T", "string1": "shelf", "number1": 9}
    assert alice.put(f"/customers/{c}/spaces/1/images/late", late).status_code == 202
    return c


def _manifest(client, path: str) -> dict:
    r = client.get(path)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_manifest_holds_video_sound_and_file_canvases(client, alice, shelf):
    c = shelf
    doc = _manifest(client, f"/iiif-resource/{c}/book/shelf")
    ids = [canvas["id"].split("/")[-4] for canvas in doc["items"]]
    assert ids == ["img", "vid", "aud", "pdf", "locked"]  # (no canvas before its transcode)
    image, video, audio, pdf, locked = doc["items"]
    assert image["items"][0]["items"][0]["body"]["type"] == "Image"
    assert (video["width"], video["height"]) == (320, 240) and 1.9 <= video["duration"] <= 2.2
    body = video["items"][0]["items"][0]["body"]
    assert body == {
        "id": f"http://localhost/iiif-av/{c}/1/vid/{VIDEO}",
        "type": "Video",
        "format": "video/mp4",
        "duration": video["duration"],
        "width": 320,
        "height": 240,
    }
    assert "width" not in audio and "height" not in audio and 1.9 <= audio["duration"] <= 2.2
    body = audio["items"][0]["items"][0]["body"]
    assert (body["type"], body["format"], body["id"]) == (
        "Sound",
        "audio/mp3",
        f"http://localhost/iiif-av/{c}/1/aud/{AUDIO}",
    )
    assert pdf["rendering"] == [
        {
            "id": f"http://localhost/file/{c}/1/pdf",
            "type": "Text",
            "label": {"none": ["pdf"]},
            "format": "application/pdf",
        }
    ]
    placeholder = pdf["items"][0]["items"][0]["body"]
    assert (pdf["width"], pdf["height"]) == (1000, 1000) and placeholder["type"] == "Image"
    r = client.get(placeholder["id"])
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # what each canvas paints is served as the manifest says
    for canvas in (video, audio):
        body = canvas["items"][0]["items"][0]["body"]
        r = client.head(body["id"])
        assert r.status_code == 200 and r.mimetype == body["format"]
    # the restricted video carries its probe; the manifest lists the access services once
    probe = locked["items"][0]["items"][0]["body"]["service"][0]
    assert probe["type"] == "AuthProbeService2"
    assert probe["id"] == f"http://localhost/auth/v2/probe/{c}/1/locked"
    assert doc["@context"][0] == "http://iiif.io/api/auth/2/context.json"
    assert [s["id"] for s in doc["services"]] == [f"http://localhost/auth/v2/access/{c}/reg"]


def test_the_probe_says_who_may_play_a_restricted_recording(app, client, alice, shelf):
    c = shelf
    fresh = client.application.test_client(use_cookies=False)
    assert fresh.get(f"/auth/v2/probe/{c}/1/locked").json["status"] == 401
    assert fresh.get(f"/auth/v2/probe/{c}/1/vid").json["status"] == 200
    cookie = session_of(app, c, ["reg"])
    token = sessions_of(app).token_of(cookie)
    r = fresh.get(f"/auth/v2/probe/{c}/1/locked", headers={"Authorization": f"Bearer {token}"})
    assert r.json["status"] == 200


def test_one_assets_manifest(client, alice, shelf):
    c = shelf
    for name, kind in (("vid", "Video"), ("aud", "Sound"), ("pdf", "Image")):
        doc = _manifest(client, f"/iiif-manifest/{c}/1/{name}")
        assert [canvas["items"][0]["items"][0]["body"]["type"] for canvas in doc["items"]] == [kind]
    r = client.get(f"/iiif-manifest/{c}/1/late")
    assert r.status_code == 404 and "being ingested" in r.get_json()["description"]


def test_the_iiif_clients_read_the_av_manifests(tmp_path, client, alice, shelf):
    from iiif_prezi3 import Manifest

    from tests.test_manifest_clients import parse_with_iiif_parser

    c = shelf
    paths = [f"/iiif-resource/{c}/book/shelf"] + [
        f"/iiif-manifest/{c}/1/{name}" for name in ("vid", "aud", "pdf", "locked")
    ]
    docs = [_manifest(client, path) for path in paths]
    for doc in docs:
        assert json.loads(Manifest(**doc).json()) == doc
    status, read = parse_with_iiif_parser(tmp_path, docs)
    assert status == 0, read
    canvases = read[0]["canvases"]
    assert [[body["type"] for body in canvas["bodies"]] for canvas in canvases] == [
        ["Image"], ["Video"], ["Sound"], ["Image"], ["Video"]
    ]  # fmt: skip
    assert [canvas["renderings"] for canvas in canvases] == [0, 0, 0, 1, 0]
    assert canvases[1]["duration"] == docs[0]["items"][1]["duration"]


def test_a_batch_of_images_video_audio_and_files_shows_each_as_it_ingests(app, alice, origin):
    c = alice.customer
    members = [
        {"id": "b-img", "space": 1, "origin": origin.url("photo.jpg")},
        {"id": "b-vid", "space": 1, "origin": origin.url("clip.mpg"), "family": "T"},
        {"id": "b-aud", "space": 1, "origin": origin.url("sound.wav"), "family": "T"},
        {"id": "b-pdf", "space": 1, "origin": origin.url("doc.pdf"), "family": "F"},
        {"id": "b-bad", "space": 1, "origin": origin.url("fake.mp4"), "family": "T"},
    ]
    batch = alice.post(f"/customers/{c}/queue", {"member": members}).get_json()
    path = batch["@id"].removeprefix("http://localhost")
    assert (batch["count"], batch["completed"], batch["errors"]) == (5, 0, 0)
    assert app.extensions["dlcs.queue"].drain() == 5
    done = alice.get(path).get_json()
    assert (done["count"], done["completed"], done["errors"]) == (5, 4, 1) and "finished" in done
    for name in ("b-vid", "b-aud"):
        doc = alice.get(f"/customers/{c}/spaces/1/images/{name}").get_json()
        assert doc["batch"] == int(path.rsplit("/", 1)[1]) and doc["duration"] > 0
