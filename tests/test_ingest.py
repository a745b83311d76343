"""Ingest in immediate mode: real origins on loopback, measured images, thumbnails, errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PIL import Image

from app.ingest.derivatives import derivatives_prefix
from app.ingest.fetch import FetchSettings, IngestError, fetch, is_public
from tests.conftest import BASE


def url(api, image: str = "img", space: int = 1) -> str:
    return f"/customers/{api.customer}/spaces/{space}/images/{image}"


def thumbs(app, api, image: str = "img") -> dict[int, tuple[int, int]]:
    keys = {"customer": api.customer, "space": 1, "image": image}
    folder = Path(app.config["STORAGE_DIR"]) / derivatives_prefix(keys)
    return {int(p.stem): Image.open(p).size for p in sorted(folder.glob("*/thumbs/*.jpg"))}


@pytest.mark.parametrize(
    ("name", "size", "media"),
    [
        ("photo.jpg", (640, 480), "image/jpeg"),
        ("tall.png", (300, 900), "image/png"),
        ("scan.tif", (500, 400), "image/tiff"),
    ],
)
def test_put_measures_the_image_and_makes_thumbnails(app, alice, origin, name, size, media):
    r = alice.put(url(alice), {"origin": origin.url(name)})
    assert r.status_code == 201
    doc = r.get_json()
    assert (doc["width"], doc["height"]) == size
    assert doc["ingesting"] is False and doc["error"] == ""
    assert doc["finished"] >= doc["created"]
    assert doc["imageOptimisationPolicy"] == f"{BASE}/imageoptimisationpolicies/fast-higher"
    assert doc["thumbnailPolicy"] == f"{BASE}/thumbnailpolicies/default"
    longest = max(size)
    made = thumbs(app, alice)
    assert set(made) == {min(s, longest) for s in (1024, 400, 200, 100)}
    for edge, dims in made.items():
        assert max(dims) == edge
    with app.extensions["dlcs.engine"].connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("select media_type from images")).scalar_one()
    assert stored == media


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("status/404", "the origin answered 404"),
        ("status/500", "the origin answered 500"),
        ("notes.txt", "not an image"),
        ("broken.jpg", "could not be decoded"),
    ],
)
def test_failed_ingest_still_stores_the_image_with_an_error(alice, origin, path, message):
    r = alice.put(url(alice), {"origin": origin.url(path), "string1": "kept"})
    assert r.status_code == 201
    doc = r.get_json()
    assert message in doc["error"]
    assert doc["ingesting"] is False and "finished" in doc
    assert "width" not in doc and "thumbnailPolicy" not in doc
    assert alice.get(url(alice)).get_json()["string1"] == "kept"


def test_refused_connection_is_reported(alice):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    doc = alice.put(url(alice), {"origin": f"http://127.0.0.1:{port}/x.jpg"}).get_json()
    assert "connection refused" in doc["error"]


def test_unknown_host_is_reported(alice):
    doc = alice.put(url(alice), {"origin": "http://no-such-host.invalid/x.jpg"}).get_json()
    assert "could not resolve" in doc["error"]


def test_slow_origin_times_out(app, alice, origin):
    app.config["ORIGIN_READ_TIMEOUT"] = 0.5
    doc = alice.put(url(alice), {"origin": origin.url("slow")}).get_json()
    assert "timed out" in doc["error"]


def test_too_large_origin_is_refused(app, alice, origin):
    app.config["ORIGIN_MAX_BYTES"] = 1000
    doc = alice.put(url(alice), {"origin": origin.url("photo.jpg")}).get_json()
    assert "over the limit of 1000 bytes" in doc["error"]


def test_decompression_bomb_is_refused(app, alice, origin):
    app.config["MAX_IMAGE_PIXELS"] = 10_000
    doc = alice.put(url(alice), {"origin": origin.url("photo.jpg")}).get_json()
    assert "640x480" in doc["error"] or "too large" in doc["error"]
    assert "DLCS_MAX_IMAGE_PIXELS" in doc["error"]


@pytest.mark.parametrize(
    "value", ["s3://bucket/key.jpg", "photo.jpg", "/images/photo.jpg", "http://", "file:///etc/x"]
)
@pytest.mark.parametrize("name", ["origin", "initialOrigin"])
def test_an_origin_that_is_no_absolute_http_url_is_refused_and_nothing_is_written(
    app, alice, name, value
):
    r = alice.put(url(alice), {name: value, "string1": "never"})
    assert r.status_code == 400, r.get_json()
    (fault,) = r.get_json()["violations"]
    assert fault["propertyPath"] == name and "URL" in fault["message"], fault
    assert alice.get(url(alice)).status_code == 404
    member = {"id": "q", "space": 1, name: value}
    if name == "initialOrigin":
        member["origin"] = "https://example.org/x.jpg"
    r = alice.post(f"/customers/{alice.customer}/queue", {"member": [member]})
    assert r.status_code == 400 and r.get_json()["violations"][0]["propertyPath"] == (
        f"member[0].{name}"
    )


def test_redirects_are_followed(alice, origin):
    doc = alice.put(url(alice), {"origin": origin.url("redirect/photo.jpg")}).get_json()
    assert doc["width"] == 640


@pytest.mark.parametrize(
    ("family", "name", "ok", "policy"),
    [
        ("F", "notes.txt", True, None),
        ("T", "sound.mp3", True, "audio-max"),
        ("T", "clip.mp4", True, "video-max"),
        ("T", "photo.jpg", False, None),
        ("I", "sound.mp3", False, None),
        ("F", "photo.jpg", True, None),  # (a file is kept as it is: no pyramid)
    ],
)
def test_family_is_checked_against_the_content(app, alice, origin, family, name, ok, policy):
    r = alice.put(url(alice), {"origin": origin.url(name), "family": family})
    if family == "T":  # (transcoded by the queue's workers, never in the request)
        assert r.status_code == 202 and r.get_json()["ingesting"] is True
        assert app.extensions["dlcs.queue"].drain() == 1
    doc = alice.get(url(alice)).get_json()
    assert (doc["error"] == "") is ok, doc["error"]
    if policy:
        assert doc["imageOptimisationPolicy"].endswith(policy)
    else:
        assert "imageOptimisationPolicy" not in doc


def test_private_origins_are_refused_unless_allowed(app, alice, origin):
    app.config["ORIGIN_ALLOW_PRIVATE"] = False
    for target in (
        origin.url("photo.jpg"),
        origin.url("photo.jpg").replace("127.0.0.1", "localhost"),
    ):
        doc = alice.put(url(alice), {"origin": target}).get_json()
        assert "origin refused" in doc["error"] and "not a public address" in doc["error"]
        assert "DLCS_ORIGIN_ALLOW_PRIVATE" in doc["error"]
    assert origin.hits.get("/never", 0) == 0


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("ff02::1", False),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        # every special-purpose range of both families (IANA's registries)
        *[
            (a, False)
            for a in (
                "0.1.2.3", "192.0.0.9", "192.0.0.170", "192.0.2.1", "192.31.196.1",
                "192.52.193.1", "192.88.99.1", "192.175.48.1", "198.18.0.1", "198.51.100.1",
                "203.0.113.1", "240.0.0.1", "255.255.255.255", "::", "64:ff9b:1::1",
                "100::1", "2001::1", "2001:2::1", "2001:10::1", "2001:20::1", "2001:db8::1",
                "2620:4f:8000::1", "3fff::1", "5f00::1", "fec0::1", "ff0e::1",
            )
        ],
        # IPv6 forms that carry an IPv4 address are what that address is
        ("::169.254.169.254", False),  # IPv4-compatible (deprecated)
        ("::8.8.8.8", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64
        ("64:ff9b::10.0.0.1", False),
        ("64:ff9b::8.8.8.8", True),
        ("2002:a9fe:a9fe::1", False),  # 6to4
        ("2002:7f00:1::1", False),
        ("2002:808:808::1", True),
        ("::ffff:0:169.254.169.254", False),  # IPv4-translated
        ("::ffff:0:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),  # mapped
        ("::ffff:8.8.8.8", True),
    ],
)  # fmt: skip
def test_address_classification(address, public):
    assert is_public(address) is public


@pytest.mark.parametrize("host", ["[64:ff9b::a9fe:a9fe]", "[::a9fe:a9fe]", "[2002:a9fe:a9fe::]"])
def test_ipv6_forms_of_private_ipv4_addresses_are_never_connected_to(host):
    with pytest.raises(IngestError, match="origin refused"):
        fetch(f"http://{host}/latest/meta-data/", FetchSettings(connect_timeout=0.5))


def test_file_origins_only_under_listed_folders(app, alice, origin):
    folder = origin.folder
    target = f"file://{folder}/photo.jpg"
    refused = alice.put(url(alice), {"origin": target})
    assert refused.status_code == 400
    assert "DLCS_ORIGIN_FILE_DIRS" in refused.get_json()["violations"][0]["message"]
    app.config["ORIGIN_FILE_DIRS"] = [str(folder)]
    assert alice.put(url(alice), {"origin": target}).get_json()["width"] == 640
    sneaky = f"file://{folder}/../../../../etc/passwd"
    assert "allowed only" in alice.put(url(alice), {"origin": sneaky}).get_json()["error"]


def test_initial_origin_is_used_for_the_first_ingest_only(alice, origin):
    body = {"origin": origin.url("status/404"), "initialOrigin": origin.url("photo.jpg")}
    doc = alice.put(url(alice), body).get_json()
    assert doc["width"] == 640 and doc["error"] == ""
    r = alice.post(url(alice) + "/reingest")
    assert r.status_code == 200
    assert "404" in r.get_json()["error"]


def test_patch_reingests_only_when_the_origin_changes(alice, origin):
    alice.put(url(alice), {"origin": origin.url("photo.jpg")})
    hits = origin.hits["/photo.jpg"]
    alice.patch(url(alice), {"string1": "no refetch"})
    assert origin.hits["/photo.jpg"] == hits
    doc = alice.patch(url(alice), {"origin": origin.url("tall.png")}).get_json()
    assert (doc["width"], doc["height"]) == (300, 900)


def test_every_put_reingests(alice, origin):
    alice.put(url(alice), {"origin": origin.url("scan.tif")})
    hits = origin.hits["/scan.tif"]
    doc = alice.get(url(alice)).get_json()
    r = alice.put(url(alice), doc)  # an ingested image fetched with GET can be PUT back
    assert r.status_code == 200, r.get_json()
    assert origin.hits["/scan.tif"] == hits + 1


def test_reingest_fetches_again(alice, origin):
    alice.put(url(alice), {"origin": origin.url("small.jpg")})
    hits = origin.hits["/small.jpg"]
    r = alice.post(url(alice) + "/reingest")
    assert r.status_code == 200 and r.get_json()["width"] == 50
    assert origin.hits["/small.jpg"] == hits + 1
    assert alice.post(url(alice, "missing") + "/reingest").status_code == 404


def test_respond_async_queues_the_ingest(app, alice, origin):
    r = alice.put(
        url(alice), {"origin": origin.url("photo.jpg")}, headers={"Prefer": "respond-async"}
    )
    assert r.status_code == 202
    assert r.headers["Preference-Applied"] == "respond-async"
    doc = r.get_json()
    assert doc["ingesting"] is True and "width" not in doc
    assert app.extensions["dlcs.queue"].drain() == 1
    doc = alice.get(url(alice)).get_json()
    assert doc["ingesting"] is False and doc["width"] == 640


def test_delete_removes_the_thumbnails(app, alice, origin):
    alice.put(url(alice), {"origin": origin.url("photo.jpg")})
    assert thumbs(app, alice)
    assert alice.delete(url(alice)).status_code == 205
    assert thumbs(app, alice) == {}


def test_stale_job_records_nothing(app, alice, origin):
    alice.put(url(alice), {"origin": origin.url("photo.jpg")}, headers={"Prefer": "respond-async"})
    alice.put(url(alice), {"origin": origin.url("tall.png")})  # registered again, ingested now
    assert app.extensions["dlcs.queue"].drain() == 1  # the first job finds itself superseded
    doc = alice.get(url(alice)).get_json()
    assert (doc["width"], doc["height"]) == (300, 900)
