"""IIIF delivery: every ingested image through the Image API 3.0 and 2.1, from its pyramid."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips
from PIL import Image, ImageChops, ImageStat

from app.ingest.derivatives import derivatives_prefix
from tests.conftest import basic, make_customer, make_image

WIDTH, HEIGHT = 1200, 900


@pytest.fixture
def picture(origin):
    """A 1200 x 900 JPEG on the origin whose every place looks different: it waves both ways
    with a period of 200 px, and red grows to the right, green downwards."""
    path = origin.folder / "delivery.jpg"
    if not path.exists():
        xy = pyvips.Image.xyz(WIDTH, HEIGHT)
        wave = (xy[0] * 1.8).sin() * (xy[1] * 1.8).sin() * 127 + 128  # (vips: degrees)
        red = xy[0] * (127 / WIDTH) + wave / 2
        green = xy[1] * (127 / HEIGHT) + wave / 2
        red.bandjoin([green, wave]).cast("uchar").jpegsave(str(path), Q=95)
    return path


@pytest.fixture
def ingested(alice, origin, picture):
    """Image "d" of alice's space 1, ingested from the picture; its service path."""
    r = alice.put(
        f"/customers/{alice.customer}/spaces/1/images/d", {"origin": origin.url(picture.name)}
    )
    assert r.status_code == 201 and r.get_json()["width"] == WIDTH, r.get_json()
    return f"/iiif-img/{alice.customer}/1/d"


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def difference(a: Image.Image, b: Image.Image) -> float:
    """The mean difference of the luminance of two images of one size (0 to 255).

    (Luminance: JPEG halves the resolution of colour, which the smaller levels of a
    pyramid show in a pattern of fine coloured waves like this one.)
    """
    return ImageStat.Stat(ImageChops.difference(a.convert("L"), b.convert("L"))).mean[0]


# -- pyramids at ingest ----------------------------------------------------------------------------


def test_ingest_makes_one_pyramid_per_registration(app, alice, ingested):
    keys = {"customer": alice.customer, "space": 1, "image": "d"}
    folder = Path(app.config["STORAGE_DIR"]) / derivatives_prefix(keys)
    first = sorted(p.name for p in folder.iterdir())
    assert len(first) == 1 and (folder / first[0] / "pyramid.tif").is_file()
    assert alice.post(f"/customers/{alice.customer}/spaces/1/images/d/reingest").status_code == 200
    second = sorted(p.name for p in folder.iterdir())
    assert len(second) == 1 and second != first  # the earlier registration's is gone
    assert alice.delete(f"/customers/{alice.customer}/spaces/1/images/d").status_code == 205
    assert not folder.exists()


# -- info.json -------------------------------------------------------------------------------------


def test_the_service_url_sends_a_client_to_info_json(client, ingested):
    r = client.get(ingested)
    assert r.status_code == 303
    assert r.headers["Location"] == f"http://localhost{ingested}/info.json"


def test_info_json_of_image_api_3(client, ingested):
    r = client.get(f"{ingested}/info.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    doc = r.get_json()
    assert doc["@context"] == "http://iiif.io/api/image/3/context.json"
    assert doc["id"] == f"http://localhost{ingested}"
    assert (doc["type"], doc["protocol"], doc["profile"]) == (
        "ImageService3",
        "http://iiif.io/api/image",
        "level2",
    )
    assert (doc["width"], doc["height"]) == (WIDTH, HEIGHT)
    assert doc["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [1, 2, 4, 8]}]
    assert doc["sizes"] == [
        {"width": 150, "height": 112},
        {"width": 300, "height": 225},
        {"width": 600, "height": 450},
    ]
    assert "mirroring" in doc["extraFeatures"] and doc["extraFormats"] == ["webp"]


PROFILE_3 = 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'


@pytest.mark.parametrize(
    "accept",
    [
        "application/ld+json",
        PROFILE_3,  # (as the Image API 3 specification shows it, section 5.1)
        'application/ld+json; profile="http://iiif.io/api/image/3/context.json"; q=0.9, '
        "application/json; q=0.5",
    ],
)
def test_info_json_as_json_ld_when_asked(client, ingested, accept):
    r = client.get(f"{ingested}/info.json", headers={"Accept": accept})
    assert r.headers["Content-Type"] == PROFILE_3


def test_info_json_as_json_when_json_is_preferred(client, ingested):
    for accept in ("", "*/*", "application/json", "application/json, application/ld+json;q=0.5"):
        r = client.get(f"{ingested}/info.json", headers={"Accept": accept})
        assert r.headers["Content-Type"] == "application/json", accept


def test_info_json_of_image_api_2(client, alice, ingested):
    path = f"/iiif-img/v2/{alice.customer}/1/d"
    doc = client.get(f"{path}/info.json").get_json()
    assert doc["@context"] == "http://iiif.io/api/image/2/context.json"
    assert doc["@id"] == f"http://localhost{path}"
    assert doc["profile"][0] == "http://iiif.io/api/image/2/level2.json"
    assert "mirroring" in doc["profile"][1]["supports"]
    v3 = client.get(f"/iiif-img/v3/{alice.customer}/1/d/info.json").get_json()
    assert v3["id"] == f"http://localhost/iiif-img/v3/{alice.customer}/1/d"


# -- image requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_path", "box", "size"),
    [
        ("full/max/0/default.jpg", (0, 0, WIDTH, HEIGHT), (WIDTH, HEIGHT)),
        ("full/300,/0/default.jpg", (0, 0, WIDTH, HEIGHT), (300, 225)),
        ("0,0,256,256/256,/0/default.jpg", (0, 0, 256, 256), (256, 256)),
        ("512,256,512,512/256,/0/default.jpg", (512, 256, 1024, 768), (256, 256)),
        ("100,50,333,222/333,222/0/default.png", (100, 50, 433, 272), (333, 222)),
        ("pct:25,25,50,50/!200,200/0/default.jpg", (300, 225, 900, 675), (200, 150)),
        ("square/100,/0/default.png", (150, 0, 1050, 900), (100, 100)),
        ("1024,768,500,500/176,/0/default.jpg", (1024, 768, 1200, 900), (176, 132)),
    ],
)
def test_a_region_at_a_size_is_the_same_crop_of_the_origin(
    client, ingested, picture, request_path, box, size
):
    r = client.get(f"{ingested}/{request_path}")
    assert r.status_code == 200, r.get_json()
    got = open_image(r.data)
    assert got.size == size
    expected = Image.open(picture).convert("RGB").crop(box).resize(size, Image.Resampling.LANCZOS)
    assert difference(got, expected) < 2  # (0.3 to 1.2 here; shifted by 8 px, 6 to 12)


def test_mirroring_rotation_and_qualities(client, ingested, picture):
    original = Image.open(picture).convert("RGB").resize((200, 150), Image.Resampling.LANCZOS)
    mirrored = open_image(client.get(f"{ingested}/full/200,/!0/default.png").data)
    assert difference(mirrored, original.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) < 2
    turned = open_image(client.get(f"{ingested}/full/200,/90/default.png").data)
    assert turned.size == (150, 200)
    assert difference(turned, original.transpose(Image.Transpose.ROTATE_270)) < 2
    assert open_image(client.get(f"{ingested}/full/200,/45/default.jpg").data).size > (200, 150)
    gray = open_image(client.get(f"{ingested}/full/200,/0/gray.png").data)
    assert gray.mode == "L"
    bitonal = open_image(client.get(f"{ingested}/full/200,/0/bitonal.png").data)
    assert set(bitonal.get_flattened_data()) <= {0, 255}


@pytest.mark.parametrize(("format_", "kind"), [("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_formats(client, ingested, format_, kind):
    r = client.get(f"{ingested}/full/120,/0/default.{format_}")
    assert r.status_code == 200 and r.mimetype == f"image/{format_.replace('jpg', 'jpeg')}"
    assert open_image(r.data).format == kind


def test_image_responses_are_open_cacheable_and_canonical(client, ingested):
    r = client.get(f"{ingested}/pct:0,0,50,50/max/0/default.jpg")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "public" in r.headers["Cache-Control"]
    assert f'<http://localhost{ingested}/0,0,600,450/600,450/0/default.jpg>;rel="canonical"' in (
        r.headers.getlist("Link")
    )
    again = client.get(
        f"{ingested}/pct:0,0,50,50/max/0/default.jpg", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304
    head = client.head(f"{ingested}/pct:0,0,50,50/max/0/default.jpg")
    assert head.status_code == 200 and head.data == b""


def test_head_answers_the_headers_of_get_without_the_body(client, ingested):
    for path in ("info.json", "0,0,256,256/256,/0/default.jpg"):
        got, head = client.get(f"{ingested}/{path}"), client.head(f"{ingested}/{path}")
        assert head.status_code == 200 and head.data == b""
        for name in ("ETag", "Content-Type", "Content-Length", "Cache-Control"):
            assert head.headers[name] == got.headers[name], name
        assert int(head.headers["Content-Length"]) == len(got.data)


def test_a_304_carries_the_tag_and_no_body(client, ingested):
    first = client.get(f"{ingested}/info.json")
    again = client.get(
        f"{ingested}/info.json", headers={"If-None-Match": f'W/{first.headers["ETag"]}, "x"'}
    )
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert "Content-Type" not in again.headers
    other = client.get(f"{ingested}/info.json", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.data == first.data


def test_other_methods_are_405_naming_those_allowed(client, ingested):
    r = client.post(f"{ingested}/info.json")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert r.get_json()["@type"] == "Error"


def test_errors_are_the_api_error_with_its_documentation_link(client, ingested):
    r = client.get(f"{ingested}/full/max/0/sepia.jpg", headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["instance"] == f"http://localhost{ingested}/full/max/0/sepia.jpg"
    assert doc["@context"] == "http://localhost/contexts/Error.jsonld"
    assert any("apiDocumentation" in link for link in r.headers.getlist("Link"))
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get(f"{ingested}/full/max/0/sepia.jpg").mimetype == "application/ld+json"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/iiif-img/1/1/%FF/info.json", 400),
        ("/iiif-img/x/1/d/info.json", 404),
        ("/iiif-img/1/99999999999999999999/d/info.json", 404),
        ("/iiif-img/v4/1/d/info.json", 404),
        ("/iiif-img/1/1/d/full/max/0", 404),
        ("/thumbs/1/1/d/0,0,10,10/max/0/default.jpg", 404),
        ("/thumbs/1/1", 404),
    ],
)
def test_paths_that_name_no_image_are_4xx(client, ingested, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert r.get_json()["@type"] == "Error"


def test_a_reingested_image_has_new_etags(client, alice, ingested):
    before = client.get(f"{ingested}/full/100,/0/default.jpg").headers["ETag"]
    alice.post(f"/customers/{alice.customer}/spaces/1/images/d/reingest")
    assert client.get(f"{ingested}/full/100,/0/default.jpg").headers["ETag"] != before


def test_an_image_deleted_and_registered_again_is_served_anew(client, alice, origin, ingested):
    """Its new registration is not the one deleted, in this process or any cache in front."""
    before = client.get(f"{ingested}/info.json")
    tile = client.get(f"{ingested}/0,0,256,256/256,/0/default.jpg")
    path = f"/customers/{alice.customer}/spaces/1/images/d"
    assert alice.delete(path).status_code == 205
    small = make_image(origin.folder / "again.png", (300, 200), "PNG")
    assert alice.put(path, {"origin": origin.url(small.name)}).status_code == 201
    after = client.get(f"{ingested}/info.json")
    assert (after.json["width"], after.json["height"]) == (300, 200)
    assert after.headers["ETag"] != before.headers["ETag"]
    again = client.get(f"{ingested}/0,0,256,256/256,/0/default.jpg")
    assert again.status_code == 200 and again.headers["ETag"] != tile.headers["ETag"]
    assert again.data != tile.data


@pytest.mark.parametrize(
    ("request_path", "status", "part"),
    [
        ("full/max/0/default.jpeg", 400, "format"),
        ("full/max/0/default.tif", 501, "format"),
        ("full/max/0/sepia.jpg", 400, "quality"),
        ("5000,0,10,10/max/0/default.jpg", 400, "region"),
        ("full/1300,/0/default.jpg", 400, "size"),
        ("full/max/400/default.jpg", 400, "rotation"),
    ],
)
def test_bad_image_requests_name_the_part(client, ingested, request_path, status, part):
    r = client.get(f"{ingested}/{request_path}")
    assert r.status_code == status
    doc = r.get_json()
    assert doc["@type"] == "Error" and doc["violations"][0]["propertyPath"] == part
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_images_that_cannot_be_served_are_404_saying_why(client, alice, origin, ingested):
    c = alice.customer
    assert "no image" in client.get(f"/iiif-img/{c}/1/nothing/info.json").get_json()["description"]
    alice.put(f"/customers/{c}/spaces/1/images/bad", {"origin": origin.url("status/404")})
    r = client.get(f"/iiif-img/{c}/1/bad/info.json")
    assert r.status_code == 404 and "failed" in r.get_json()["description"]
    alice.put(
        f"/customers/{c}/spaces/1/images/later",
        {"origin": origin.url("photo.jpg")},
        headers={"Prefer": "respond-async"},
    )
    r = client.get(f"/iiif-img/{c}/1/later/full/max/0/default.jpg")
    assert r.status_code == 404 and "being ingested" in r.get_json()["description"]
    alice.put(f"/customers/{c}/spaces/1/images/text", {"origin": origin.url("notes.txt")})
    r = client.get(f"/iiif-img/{c}/1/text/info.json")
    assert r.status_code == 404 and "not an image" in r.get_json()["description"]


# -- the IIIF community's validator ---------------------------------------------------------------

VALIDATOR_IMAGE = "67352ccc-d1b0-11e1-89ae-279075081939"
DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize(("version", "prefix"), [("3.0", ""), ("2.0", "/v2")], ids=["3.0", "2.1"])
def test_the_iiif_validator_finds_no_failure_at_level_2(
    app, runner, served, origin, version, prefix
):
    validator = Path(sys.executable).parent / "iiif-validate.py"
    shutil.copy(DATA / f"{VALIDATOR_IMAGE}.png", origin.folder / f"{VALIDATOR_IMAGE}.png")
    made = make_customer(runner, "validated")
    headers, c = basic(made["key"], made["secret"]), made["id"]
    client = app.test_client()
    assert (
        client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers).status_code
        == 201
    )
    r = client.put(
        f"/customers/{c}/spaces/1/images/{VALIDATOR_IMAGE}",
        json={"origin": origin.url(f"{VALIDATOR_IMAGE}.png")},
        headers=headers,
    )
    assert r.get_json()["width"] == 1000, r.get_json()
    host = served.removeprefix("http://")
    command = [sys.executable, str(validator), "-s", host, "-p", f"iiif-img{prefix}/{c}/1",
               "-i", VALIDATOR_IMAGE, f"--version={version}"]  # fmt: skip
    # Level 2, then the features of level 3 that info.json declares besides.
    for selected, least in ((["--level", "2"], 30), (BEYOND_LEVEL_2, len(BEYOND_LEVEL_2) // 2)):
        run = subprocess.run([*command, *selected], capture_output=True, text=True, timeout=300)
        report = run.stdout + run.stderr
        assert run.returncode == 0, report
        assert "FAIL" not in report and report.count("PASS") >= least, report


# (The validator's format_webp test cannot run on Python 3, nor its ^max one ask for anything
# but the full size: test_formats and the grammar's table cover those.)
BEYOND_LEVEL_2 = [
    argument
    for test in ("rot_mirror", "rot_mirror_180", "rot_full_non90", "rot_region_non90",
                 "linkheader_canonical")
    for argument in ("--test", test)
]  # fmt: skip


@pytest.mark.parametrize("app_config", [{"CORS_ORIGINS": "https://catalogue.example"}])
def test_any_origin_may_read_images_whatever_the_api_allows(app, client, ingested):
    preflight = client.options(
        f"{ingested}/info.json",
        headers={
            "Origin": "https://viewer.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization"
    got = client.get(f"{ingested}/info.json", headers={"Origin": "https://viewer.example"})
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    api = client.get("/", headers={"Origin": "https://viewer.example"})
    assert "Access-Control-Allow-Origin" not in api.headers


# -- thumbnails -----------------------------------------------------------------------------------


def test_the_thumbnail_service_is_level_0_with_the_sizes_made(client, alice, ingested):
    thumbs = f"/thumbs/{alice.customer}/1/d"
    assert client.get(thumbs).headers["Location"] == f"http://localhost{thumbs}/info.json"
    r = client.get(f"{thumbs}/info.json")
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    doc = r.get_json()
    assert (doc["id"], doc["type"], doc["profile"]) == (
        f"http://localhost{thumbs}",
        "ImageService3",
        "level0",
    )
    assert (doc["width"], doc["height"]) == (1024, 768)
    assert [(s["width"], s["height"]) for s in doc["sizes"]] == [
        (100, 75),
        (200, 150),
        (400, 300),
        (1024, 768),
    ]


@pytest.mark.parametrize(
    ("size", "made"),
    [("max", 1024), ("200,", 200), (",150", 200), ("200,150", 200), ("!200,200", 200),
     ("!400,1000", 400), ("100,", 100)],
)  # fmt: skip
def test_a_made_thumbnail_is_sent_as_stored_for_any_spelling(
    app, client, alice, ingested, size, made
):
    r = client.get(f"/thumbs/{alice.customer}/1/d/full/{size}/0/default.jpg")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    keys = {"customer": alice.customer, "space": 1, "image": "d"}
    folder = Path(app.config["STORAGE_DIR"]) / derivatives_prefix(keys)
    stored = next(folder.glob(f"*/thumbs/{made}.jpg"))
    assert r.data == stored.read_bytes()
    assert (
        client.get(
            f"/thumbs/{alice.customer}/1/d/full/{size}/0/default.jpg",
            headers={"If-None-Match": r.headers["ETag"]},
        ).status_code
        == 304
    )


def test_a_size_that_was_not_made_is_sent_to_the_image_api(client, alice, ingested):
    r = client.get(f"/thumbs/{alice.customer}/1/d/full/300,/0/default.jpg")
    assert r.status_code == 303
    assert r.headers["Location"] == f"http://localhost{ingested}/full/300,/0/default.jpg"
    assert open_image(client.get(r.headers["Location"]).data).size == (300, 225)


def test_bad_thumbnail_sizes_are_400(client, alice, ingested):
    r = client.get(f"/thumbs/{alice.customer}/1/d/full/^2000,/0/default.jpg")
    assert r.status_code == 303  # (not made: the image API says what it makes of it)
    r = client.get(f"/thumbs/{alice.customer}/1/d/full/2000,/0/default.jpg")
    assert r.status_code == 400 and r.get_json()["violations"][0]["propertyPath"] == "size"


# -- the Image links its services -------------------------------------------------------------


def test_the_image_links_its_services_once_ingested_as_an_image(client, alice, origin, ingested):
    c = alice.customer
    doc = alice.get(f"/customers/{c}/spaces/1/images/d").get_json()
    assert doc["imageService"] == f"http://localhost{ingested}"
    assert doc["thumbnailImageService"] == f"http://localhost/thumbs/{c}/1/d"
    for link in (doc["imageService"], doc["thumbnailImageService"]):
        found = client.get(link.removeprefix("http://localhost") + "/info.json")
        assert found.status_code == 200 and found.get_json()["id"] == link
    for image, body in (
        ("plain", {"string1": "no origin"}),
        ("failed", {"origin": origin.url("status/404")}),
        ("text", {"origin": origin.url("notes.txt")}),
    ):
        doc = alice.put(f"/customers/{c}/spaces/1/images/{image}", body).get_json()
        assert "imageService" not in doc and "thumbnailImageService" not in doc, image


def test_the_console_shows_the_image(client, alice, ingested):
    page = alice.get(
        f"/customers/{alice.customer}/spaces/1/images/d", headers={"Accept": "text/html"}
    ).data.decode()
    assert f'src="http://localhost/thumbs/{alice.customer}/1/d/full/max/0/default.jpg"' in page
    assert f'href="http://localhost{ingested}/info.json"' in page
    manifest = f"/iiif-manifest/{alice.customer}/1/d"
    assert f'href="http://localhost{manifest}"' in page
    assert client.get(manifest).get_json()["items"][0]["width"] == WIDTH


@pytest.mark.parametrize(
    ("name", "fmt", "options"),
    [
        ("o.jpg", "JPEG", {}),
        ("o.png", "PNG", {}),
        ("o.tif", "TIFF", {"compression": "tiff_lzw"}),
        ("o.webp", "WEBP", {"quality": 90}),
        ("o.jp2", "JPEG2000", {}),
        ("o16.png", "PNG", {"bits": 16}),
        ("oa.png", "PNG", {"alpha": True}),
    ],
)
def test_origins_of_every_format_are_served(client, alice, origin, name, fmt, options):
    """JPEG, PNG, TIFF, WebP and JPEG 2000 (which libvips's build lacks: Pillow decodes it)."""
    gradient = Image.linear_gradient("L").resize((700, 500))
    if options.pop("bits", None):
        picture = gradient.point(lambda v: v * 257, "I").convert("I;16")
    elif options.pop("alpha", None):
        picture = gradient.convert("RGBA")
    else:
        picture = gradient.convert("RGB")
    picture.save(origin.folder / name, fmt, **options)
    path = f"/customers/{alice.customer}/spaces/1/images/{name.replace('.', '-')}"
    doc = alice.put(path, {"origin": origin.url(name)}).get_json()
    assert (doc.get("width"), doc.get("height"), doc["error"]) == (700, 500, ""), doc
    r = client.get(
        doc["imageService"].removeprefix("http://localhost") + "/full/350,/0/default.jpg"
    )
    assert r.status_code == 200 and open_image(r.data).size == (350, 250)
    expected = gradient.resize((350, 250))
    assert difference(open_image(r.data), expected) < 3


def test_a_whole_tile_of_a_level_is_sent_as_stored(app, client, alice, ingested):
    """As a viewer asks for tiles: the stored JPEG data, not decoded and encoded again."""
    import tifffile

    keys = {"customer": alice.customer, "space": 1, "image": "d"}
    path = next((Path(app.config["STORAGE_DIR"]) / derivatives_prefix(keys)).glob("*/pyramid.tif"))
    with tifffile.TiffFile(path) as tiff:
        level1 = tiff.pages[1]  # 600 x 450: tiles of 3 columns, (1, 0) is a whole one
        with path.open("rb") as file:
            file.seek(level1.dataoffsets[1])
            stored = file.read(level1.databytecounts[1])
    r = client.get(f"{ingested}/512,0,512,512/256,/0/default.jpg")
    assert r.status_code == 200 and r.data.endswith(stored[2:])
    edge = client.get(f"{ingested}/1024,0,176,512/88,/0/default.jpg")  # (padded when stored)
    assert edge.status_code == 200 and open_image(edge.data).size == (88, 256)


def viewer_tiles(info: dict) -> list[tuple[int, tuple[int, int, int, int], tuple[int, int]]]:
    """Every tile a viewer asks for, as OpenSeadragon does from an info.json: (scale factor,
    region, size)."""
    tile = info["tiles"][0]["width"]
    found = []
    for factor in info["tiles"][0]["scaleFactors"]:
        span = tile * factor
        for y in range(0, info["height"], span):
            for x in range(0, info["width"], span):
                w, h = min(span, info["width"] - x), min(span, info["height"] - y)
                found.append((factor, (x, y, w, h), (-(-w // factor), -(-h // factor))))
    return found


def test_every_tile_a_viewer_asks_for_is_sent_as_stored(app, client, alice, ingested):
    """Edge tiles included, at their own size: made at ingest, sent as they were stored."""
    keys = {"customer": alice.customer, "space": 1, "image": "d"}
    folder = next((Path(app.config["STORAGE_DIR"]) / derivatives_prefix(keys)).glob("*"))
    index = json.loads((folder / "tiles.json").read_text())
    pyramid, edges = (folder / "pyramid.tif").read_bytes(), (folder / "edges.jpg").read_bytes()
    stored = 0
    for factor, (x, y, w, h), (tw, th) in viewer_tiles(client.get(f"{ingested}/info.json").json):
        r = client.get(f"{ingested}/{x},{y},{w},{h}/{tw},{th}/0/default.jpg")
        assert r.status_code == 200 and open_image(r.data).size == (tw, th)
        level = factor.bit_length() - 1
        column, row = x // (256 * factor), y // (256 * factor)
        width, height = index["levels"][level]
        extent = (min(256, width - column * 256), min(256, height - row * 256))
        if extent != (tw, th) or (w, h) != (tw * factor, th * factor):
            continue  # (a level whose extent is not the image's over its factor: drawn anew)
        if extent == (256, 256):
            place = row * -(-width // 256) + column
            start, count = index["offsets"][level][place], index["counts"][level][place]
            assert r.data.endswith(pyramid[start + 2 : start + count])
        else:
            start, count = index["edges"][f"{level}/{column}/{row}"]
            assert r.data == edges[start : start + count]
            # The same pixels as the region drawn anew (a PNG is never a stored tile).
            drawn = client.get(f"{ingested}/{x},{y},{w},{h}/{tw},{th}/0/default.png")
            assert difference(open_image(r.data), open_image(drawn.data)) < 2
        stored += 1
    assert stored == 28  # (1200 x 900: 20 + 6 + 2 tiles at factors 1, 2, 4; 1 at 8 drawn anew)


def test_an_origin_that_is_a_pyramid_already_is_kept_as_it_is(app, client, alice, origin):
    source = pyvips.Image.xyz(1500, 1000)[0].cast("uchar").colourspace("srgb")
    source.tiffsave(
        str(origin.folder / "ready.tif"), tile=True, tile_width=256, tile_height=256,
        pyramid=True, compression="jpeg", Q=80,
    )  # fmt: skip
    source.tiffsave(str(origin.folder / "flat.tif"), compression="lzw")
    c = alice.customer
    ready = alice.put(f"/customers/{c}/spaces/1/images/r", {"origin": origin.url("ready.tif")})
    assert ready.get_json()["imageOptimisationPolicy"].endswith("/use-original")
    keys = {"customer": c, "space": 1, "image": "r"}
    kept = next((Path(app.config["STORAGE_DIR"]) / derivatives_prefix(keys)).glob("*/pyramid.tif"))
    assert kept.read_bytes() == (origin.folder / "ready.tif").read_bytes()
    tile = client.get(f"/iiif-img/{c}/1/r/256,256,256,256/256,/0/default.jpg")
    assert tile.status_code == 200 and open_image(tile.data).size == (256, 256)
    flat = alice.put(f"/customers/{c}/spaces/1/images/f", {"origin": origin.url("flat.tif")})
    assert flat.get_json()["imageOptimisationPolicy"].endswith("/fast-higher")
    policy = client.get(
        ready.get_json()["imageOptimisationPolicy"].removeprefix("http://localhost")
    )
    assert policy.status_code == 200 and policy.get_json()["name"] == "Use original"


@pytest.fixture
def see_through(alice, origin):
    """Alice's image "glass": a PNG whose left third is opaque red, middle third half-seen
    green, right third transparent."""
    picture = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    picture.paste((255, 0, 0, 255), (0, 0, 200, 400))
    picture.paste((0, 200, 0, 128), (200, 0, 400, 400))
    picture.save(origin.folder / "glass.png")
    r = alice.put(
        f"/customers/{alice.customer}/spaces/1/images/glass", {"origin": origin.url("glass.png")}
    )
    assert r.status_code == 201 and r.get_json()["width"] == 600, r.get_json()
    return f"/iiif-img/{alice.customer}/1/glass"


def _near(found, wanted, within=12) -> bool:
    return all(abs(a - b) <= within for a, b in zip(found, wanted, strict=True))


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_transparency_is_kept_where_the_format_has_it(client, see_through, fmt):
    r = client.get(f"{see_through}/full/max/0/default.{fmt}")
    assert r.status_code == 200
    shown = Image.open(io.BytesIO(r.data))
    assert shown.mode == "RGBA"
    assert _near(shown.getpixel((100, 200)), (255, 0, 0, 255))
    assert _near(shown.getpixel((300, 200)), (0, 200, 0, 128))  # (its colour as it was)
    assert shown.getpixel((500, 200))[3] == 0
    tile = Image.open(
        io.BytesIO(client.get(f"{see_through}/256,0,256,256/128,/0/default.{fmt}").data)
    )
    assert tile.mode == "RGBA" and tile.size == (128, 128)
    assert _near(tile.getpixel((10, 10)), (0, 200, 0, 128)) and tile.getpixel((120, 10))[3] == 0
    gray = Image.open(io.BytesIO(client.get(f"{see_through}/full/300,/0/gray.{fmt}").data))
    assert gray.mode in ("LA", "RGBA") and gray.getpixel((250, 100))[-1] == 0


def test_transparency_is_flattened_onto_white_in_a_jpeg(client, see_through):
    shown = Image.open(io.BytesIO(client.get(f"{see_through}/full/max/0/default.jpg").data))
    assert shown.mode == "RGB"
    assert _near(shown.getpixel((100, 200)), (255, 0, 0))
    assert _near(shown.getpixel((300, 200)), (127, 227, 127))
    assert _near(shown.getpixel((500, 200)), (255, 255, 255))
