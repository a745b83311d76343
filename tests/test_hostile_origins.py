"""Origins an attacker registers: each is refused or bounded, and the web server keeps answering.

Decoding happens in a child process bounded in memory and time (app.ingest.sandbox); what a
format costs to decode is checked from its header first (app.ingest.decode.decoding_cost).
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
import pyvips
import requests
from PIL import Image

from app.ingest import decode, sandbox
from app.ingest.errors import IngestError
from tests.conftest import basic, make_customer
from tests.hostile import looping_tiff, rle_bmp, truncated_jpeg
from tests.test_serving import procfile_server


def image_url(api, image: str) -> str:
    return f"/customers/{api.customer}/spaces/1/images/{image}"


def stored(app) -> set[Path]:
    return {p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()}


# -- a TIFF whose directories loop -----------------------------------------------------------------


def test_a_tiff_whose_directories_loop_is_refused_at_once(tmp_path):
    path = tmp_path / "loop.tif"
    path.write_bytes(looping_tiff())
    started = time.monotonic()
    with pytest.raises(IngestError, match="directories never end"):
        decode.derive(str(path), str(tmp_path), "I", [100], decode.Limits(10**8, 2**30))
    assert time.monotonic() - started < 5  # (tifffile alone reads it without end)


def test_a_looping_tiff_registered_gets_an_error_naming_it(app, alice, origin):
    (origin.folder / "loop.tif").write_bytes(looping_tiff())
    before = stored(app)
    started = time.monotonic()
    r = alice.put(image_url(alice, "loop"), {"origin": origin.url("loop.tif")})
    assert r.status_code == 201 and time.monotonic() - started < 10
    doc = r.get_json()
    assert "directories never end" in doc["error"] and doc["ingesting"] is False
    assert "width" not in doc and stored(app) == before


# -- what a format costs to decode, known before decoding ------------------------------------------


def _saved(tmp_path: Path, name: str, image: Image.Image, **options) -> str:
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


def _cost(path: str) -> int:
    with Image.open(path) as header:
        return decode.decoding_cost(path, header)


def test_the_cost_of_decoding_is_read_from_the_header_per_format(tmp_path):
    rgb = Image.new("RGB", (400, 300), (10, 200, 30))
    pixels = 400 * 300
    assert _cost(_saved(tmp_path, "a.jpg", rgb)) == 0  # (baseline JPEG: streamed)
    assert _cost(_saved(tmp_path, "p.jpg", rgb, progressive=True)) == pixels * 3 * 2
    assert _cost(_saved(tmp_path, "a.png", rgb)) == 0  # (streamed)
    pyvips.Image.black(400, 300, bands=3).pngsave(str(tmp_path / "i.png"), interlace=True)
    assert _cost(str(tmp_path / "i.png")) == pixels * 3  # (Adam7: whole)
    pyvips.Image.black(400, 300, bands=3).tiffsave(str(tmp_path / "t.tif"), tile=True)
    assert _cost(str(tmp_path / "t.tif")) == 0  # (tiles: a few at a time)
    assert _cost(_saved(tmp_path, "s.tif", rgb)) == pixels * 3  # (one strip: every row)
    assert _cost(_saved(tmp_path, "a.webp", rgb)) == pixels * 4  # (whole, as RGBA)
    assert _cost(_saved(tmp_path, "a.gif", rgb.convert("P"))) == pixels * 4
    # BMP is Pillow's: the image, it converted to RGB, and those bytes.
    assert _cost(_saved(tmp_path, "a.bmp", rgb)) == pixels * (3 + 2 * 3)
    assert _cost(_saved(tmp_path, "p.bmp", rgb.convert("P"))) == pixels * (1 + 2 * 3)


def test_a_small_bmp_that_decodes_into_gigabytes_is_refused_before_decoding(app, alice, origin):
    """2 MB of run-length encoding, 15800 x 15800 pixels: 1.7 GB to decode whole."""
    (origin.folder / "bomb.bmp").write_bytes(rle_bmp())
    before = stored(app)
    started = time.monotonic()
    doc = alice.put(image_url(alice, "bomb"), {"origin": origin.url("bomb.bmp")}).get_json()
    assert time.monotonic() - started < 10
    assert doc["error"] == (
        "decoding this image/bmp image of 15800x15800 pixels takes about 1666 MB at once, "
        "over the limit of 1024 MB for one ingest (DLCS_INGEST_MEMORY_MB)"
    )
    assert stored(app) == before


def test_the_same_bmp_within_the_setting_is_ingested(app, alice, origin):
    """What the estimate lets through is decoded; a smaller one of the same kind, quickly."""
    (origin.folder / "small.bmp").write_bytes(rle_bmp(1500))
    app.config["INGEST_MEMORY_MB"] = 20  # (1500 x 1500 x 7 bytes is 15 MB)
    doc = alice.put(image_url(alice, "small-bmp"), {"origin": origin.url("small.bmp")}).get_json()
    assert (doc["error"], doc["width"], doc["height"]) == ("", 1500, 1500)
    app.config["INGEST_MEMORY_MB"] = 10
    doc = alice.put(image_url(alice, "small-bmp"), {"origin": origin.url("small.bmp")}).get_json()
    assert "takes about 15 MB at once, over the limit of 10 MB" in doc["error"]


# -- the process that decodes: bounded, and the caller always told why -----------------------------


def test_a_decoder_that_allocates_past_the_bound_fails_in_its_own_process():
    with pytest.raises(IngestError, match="took more than the 64 MB one ingest may"):
        sandbox.run(bytearray, 512 * 2**20, memory=64 * 2**20, seconds=30)
    assert sandbox.run(bytearray, 3, memory=64 * 2**20, seconds=30) == bytearray(3)


def test_a_decoder_that_runs_past_its_time_is_ended():
    started = time.monotonic()
    with pytest.raises(IngestError, match=r"took longer than 0.5 s \(DLCS_INGEST_SECONDS\)"):
        sandbox.run(time.sleep, 30, memory=2**30, seconds=0.5)
    assert time.monotonic() - started < 10


def test_a_decoder_that_crashes_is_reported_and_the_caller_lives_on():
    with pytest.raises(IngestError, match=r"crashed on the origin \(SIGABRT\)"):
        sandbox.run(os.abort, memory=2**30, seconds=30)


# -- a file that ends before its pixels do ---------------------------------------------------------


def test_a_truncated_jpeg_is_an_error_naming_the_truncation(app, alice, origin, tmp_path):
    (origin.folder / "cut.jpg").write_bytes(truncated_jpeg(tmp_path))
    before = stored(app)
    doc = alice.put(image_url(alice, "cut"), {"origin": origin.url("cut.jpg")}).get_json()
    assert doc["error"].startswith("the image is truncated: its file ends before all of its pixels")
    assert doc["warning"] == "" and stored(app) == before


def test_a_truncated_jpeg_is_ingested_with_a_warning_when_the_setting_says_so(
    app, alice, client, origin, tmp_path
):
    app.config["INGEST_TRUNCATED"] = "warning"
    (origin.folder / "cut.jpg").write_bytes(truncated_jpeg(tmp_path))
    doc = alice.put(image_url(alice, "cut"), {"origin": origin.url("cut.jpg")}).get_json()
    assert (doc["error"], doc["width"], doc["height"]) == ("", 800, 600)
    assert doc["warning"].startswith("the image is truncated")
    tile = client.get(f"/iiif-img/{alice.customer}/1/cut/full/200,/0/default.jpg")
    assert tile.status_code == 200
    # The bottom is grey: libvips filled what the file did not hold.
    bottom = Image.open(io.BytesIO(tile.data)).convert("L").crop((0, 140, 200, 150))
    low, high = bottom.getextrema()
    assert high - low <= 2, (low, high)
    again = alice.put(image_url(alice, "cut"), {"origin": origin.url("photo.jpg")}).get_json()
    assert again["warning"] == ""  # (a new registration says only what its ingest noticed)


def test_the_truncation_setting_takes_error_or_warning_only(database_url, tmp_path):
    from app.factory import create_app

    with pytest.raises(ValueError, match="DLCS_INGEST_TRUNCATED must be one of error, warning"):
        create_app(
            {
                "DATABASE_URL": database_url,
                "STORAGE_DIR": str(tmp_path),
                "INGEST_TRUNCATED": "ignore",
            }
        )


# -- the web worker keeps answering, its memory flat -----------------------------------------------


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_hostile_origins_ingested_while_tiles_are_read_leave_the_web_worker_as_it_was(
    database_url, runner, origin, tmp_path, capsys
):
    """Gunicorn as the Procfile runs it (one worker), ingesting in its requests: the looping
    TIFF, and the BMP with a bound that lets it be decoded whole (2.6 GB, in the child)."""
    (origin.folder / "loop.tif").write_bytes(looping_tiff())
    (origin.folder / "bomb.bmp").write_bytes(rle_bmp())
    made = make_customer(runner, "hostile")
    c, auth = made["id"], basic(made["key"], made["secret"])
    env = {
        "DATABASE_URL": database_url,
        "DLCS_STORAGE_DIR": str(tmp_path / "storage"),
        "DLCS_ORIGIN_ALLOW_PRIVATE": "true",
        "DLCS_INGEST_MEMORY_MB": "4096",
        "DLCS_IMMEDIATE_INGEST_SECONDS": "60",
        "WEB_CONCURRENCY": "1",
    }
    log = tmp_path / "gunicorn.log"
    with procfile_server(env, log) as base:
        session = requests.Session()
        session.headers.update(auth)
        assert session.put(f"{base}/customers/{c}/spaces/1", json={"name": "s"}).ok
        put = session.put(
            f"{base}/customers/{c}/spaces/1/images/tiles", json={"origin": origin.url("photo.jpg")}
        )
        assert put.json()["width"] == 640, put.text
        worker = int(log.read_text().split("Booting worker with pid: ")[1].split()[0])
        tiles = [f"{base}/iiif-img/{c}/1/tiles/{x},0,256,256/256,/0/default.jpg" for x in (0, 256)]
        for url in tiles:
            assert requests.get(url, timeout=10).status_code == 200
        before = _rss_mb(worker)
        statuses: list[int | str] = []
        slowest = [0.0]
        stop = threading.Event()

        def read_tiles() -> None:
            reader = requests.Session()
            while not stop.is_set():
                for url in tiles:
                    started = time.monotonic()
                    try:
                        statuses.append(reader.get(url, timeout=10).status_code)
                    except requests.RequestException as exc:
                        statuses.append(type(exc).__name__)
                    slowest[0] = max(slowest[0], time.monotonic() - started)
                time.sleep(0.02)

        reader = threading.Thread(target=read_tiles, daemon=True)
        reader.start()
        try:
            images = f"{base}/customers/{c}/spaces/1/images"
            loop = session.put(f"{images}/loop", json={"origin": origin.url("loop.tif")}).json()
            bomb = session.put(
                f"{images}/bomb",
                json={"origin": origin.url("bomb.bmp")},
                timeout=120,
            ).json()
        finally:
            stop.set()
            reader.join()
        after = _rss_mb(worker)
    with capsys.disabled():
        print(
            f"\n  web worker RSS: {before:.0f} MB before, {after:.0f} MB after; "
            f"{len(statuses)} tiles read meanwhile, the slowest in {slowest[0]:.2f} s"
        )
    assert "directories never end" in loop["error"]
    assert (bomb["error"], bomb["width"]) == ("", 15800), bomb
    assert statuses and set(statuses) == {200}, statuses
    assert after - before < 64, (before, after)
