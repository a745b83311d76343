"""The manifests as real IIIF clients read them: the IIIF community's parser (@iiif/parser,
from npm), a Presentation 3 model (iiif-prezi3, from PyPI), and Mirador in headless Chromium,
which opens a named query's manifest from a page of another origin and shows its first canvas."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import pyvips
from PIL import Image

from tests.conftest import basic, make_customer, wait_for

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
MIRADOR = CLIENTS / "node_modules/mirador/dist/mirador.min.js"
RED, GREEN = (220, 20, 20), (20, 200, 20)


def halves(path: Path, width: int, height: int) -> Path:
    """Write a JPEG whose left half is red and right half green (easy to find on a screen)."""
    red = pyvips.Image.black(width // 2, height).new_from_image(list(RED))
    green = pyvips.Image.black(width - width // 2, height).new_from_image(list(GREEN))
    red.join(green, "horizontal").cast("uchar").jpegsave(str(path), Q=90)
    return path


@pytest.fixture
def shelf(app, runner, origin) -> dict[str, Any]:
    """A customer's book "b1" of two ingested pages (the second with a role, open up to 200 px)
    and the manifests made of it: the named query's, and each page's own."""
    halves(origin.folder / "halves.jpg", 1600, 1200)
    made = make_customer(runner, "shelf")
    headers, c = basic(made["key"], made["secret"]), made["id"]
    client = app.test_client()
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    client.put(f"/customers/{c}/roles/reg", json={"label": "Readers"}, headers=headers)
    role = f"http://localhost/customers/{c}/roles/reg"
    pages = [
        ("p1", {"origin": origin.url("halves.jpg"), "number1": 1}),
        ("p2", {"origin": origin.url("tall.png"), "number1": 2, "roles": [role],
                "maxUnauthorised": 200}),
    ]  # fmt: skip
    for image, values in pages:
        r = client.put(
            f"/customers/{c}/spaces/1/images/{image}",
            json={"string1": "b1", **values},
            headers=headers,
        )
        assert r.status_code == 201 and r.get_json()["width"], r.get_json()
    manifests = {}
    for path in (
        f"/iiif-resource/{c}/book/b1",
        f"/iiif-manifest/{c}/1/p1",
        f"/iiif-manifest/{c}/1/p2",
    ):
        r = client.get(path)
        assert r.status_code == 200, r.get_json()
        manifests[path] = r.get_json()
    return {"customer": c, "client": client, "manifests": manifests}


def parse_with_iiif_parser(tmp_path: Path, docs: list[dict[str, Any]]) -> tuple[int, list]:
    """Run @iiif/parser over these manifests; its exit status and what it read of each."""
    if not (CLIENTS / "node_modules/@iiif/parser").is_dir() or not shutil.which("node"):
        pytest.skip("@iiif/parser is not installed (make test runs npm ci in clients/)")
    files = []
    for n, doc in enumerate(docs):
        file = tmp_path / f"manifest{n}.json"
        file.write_text(json.dumps(doc))
        files.append(str(file))
    done = subprocess.run(
        ["node", "iiifparser.mjs", *files],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_the_iiif_parser_reads_every_manifest_without_a_warning(tmp_path, shelf):
    docs = list(shelf["manifests"].values())
    status, read = parse_with_iiif_parser(tmp_path, docs)
    assert status == 0, read
    c = shelf["customer"]
    book = read[0]
    assert book["id"] == f"http://localhost/iiif-resource/{c}/book/b1"
    assert book["warnings"] == []
    assert [(canvas["width"], canvas["height"]) for canvas in book["canvases"]] == [
        (1600, 1200),
        (300, 900),
    ]
    assert all(canvas["thumbnails"] == 1 and canvas["metadata"] == 8 for canvas in book["canvases"])
    assert book["services"] == [
        f"http://localhost/iiif-img/{c}/1/p1",
        f"http://localhost/iiif-img/{c}/1/p2",
    ]
    assert [len(r["canvases"]) for r in read[1:]] == [1, 1]


def test_the_iiif_parser_does_find_fault_with_a_broken_manifest(tmp_path, shelf):
    broken = json.loads(json.dumps(next(iter(shelf["manifests"].values()))))
    broken["items"][0]["label"] = "not a language map"
    broken["items"][0]["height"] = "tall"
    status, read = parse_with_iiif_parser(tmp_path, [broken])
    assert status == 1 and (read[0].get("warnings") or read[0].get("error")), read


def test_the_presentation_3_model_reads_every_manifest(shelf):
    from iiif_prezi3 import Manifest

    for path, doc in shelf["manifests"].items():
        model = Manifest(**doc)
        assert str(model.id) == f"http://localhost{path}"
        assert len(model.items) == len(doc["items"])
        assert json.loads(model.json()) == doc


def test_the_presentation_3_model_does_find_fault_with_a_broken_manifest(shelf):
    from iiif_prezi3 import Manifest
    from pydantic import ValidationError

    broken = json.loads(json.dumps(next(iter(shelf["manifests"].values()))))
    broken["items"][0]["width"] = "wide"
    with pytest.raises(ValidationError):
        Manifest(**broken)


def test_what_a_canvas_links_to_is_served(shelf):
    client = shelf["client"]
    for canvas in shelf["manifests"][f"/iiif-resource/{shelf['customer']}/book/b1"]["items"]:
        (thumbnail,) = canvas["thumbnail"]
        r = client.get(thumbnail["id"])
        # a stored thumbnail (not a redirect to the Image API), open to anyone, of that size
        assert r.status_code == 200 and r.mimetype == "image/jpeg", thumbnail["id"]
        assert Image.open(io.BytesIO(r.data)).size == (thumbnail["width"], thumbnail["height"])
        body = canvas["items"][0]["items"][0]["body"]
        info = client.get(body["service"][0]["id"] + "/info.json")
        assert info.status_code == 200
        assert (info.get_json()["width"], info.get_json()["height"]) == (
            body["width"],
            body["height"],
        )
    # the second page has a role: its open thumbnail is within maxUnauthorised (200)
    second = shelf["manifests"][f"/iiif-resource/{shelf['customer']}/book/b1"]["items"][1]
    assert max(second["thumbnail"][0]["width"], second["thumbnail"][0]["height"]) <= 200


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="mirador.min.js"></script></head>
<body style="margin: 0"><div id="mirador" style="position: absolute; inset: 0"></div>
<script>
  window.viewer = Mirador.viewer({
    id: "mirador",
    windows: [{manifestId: "MANIFEST", thumbnailNavigationPosition: "far-bottom"}],
    workspaceControlPanel: {enabled: false},
  });
</script></body></html>
"""


def share_of(screenshot: bytes, colour: tuple[int, int, int]) -> float:
    """The share of a screenshot's pixels within 40 of ``colour`` in every channel."""
    image = Image.open(io.BytesIO(screenshot)).convert("RGB")
    data = image.tobytes()
    pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
    near = sum(1 for p in pixels if all(abs(a - b) <= 40 for a, b in zip(p, colour, strict=True)))
    return near / len(pixels)


def test_mirador_opens_a_named_query_and_shows_its_first_canvas(
    app, runner, served, origin, static_site, browser, tmp_path
):
    if not MIRADOR.is_file():
        pytest.skip("mirador is not installed (make test runs npm ci in clients/)")
    halves(origin.folder / "halves.jpg", 1600, 1200)
    made = make_customer(runner, "mirador")
    headers, c = basic(made["key"], made["secret"]), made["id"]
    client = app.test_client()
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    for n, name in enumerate(["halves.jpg", "photo.jpg"], start=1):
        r = client.put(
            f"/customers/{c}/spaces/1/images/page{n}",
            json={"origin": origin.url(name), "string1": "b1", "number1": n},
            headers=headers,
        )
        assert r.get_json()["width"], r.get_json()
    site, page_origin = static_site
    (site / "mirador.min.js").write_bytes(MIRADOR.read_bytes())
    manifest = f"{served}/iiif-resource/v3/{c}/book/b1"
    (site / "index.html").write_text(PAGE.replace("MANIFEST", manifest))
    browser.set_window_size(1000, 700)
    browser.get(f"{page_origin}/index.html")

    def shown(driver) -> bool:
        shot = driver.get_screenshot_as_png()
        return share_of(shot, RED) > 0.05 and share_of(shot, GREEN) > 0.05

    wait_for(browser, shown, 40)
    (tmp_path / "mirador.png").write_bytes(browser.get_screenshot_as_png())
    # the viewer read the manifest, the first image's info.json and its tiles from this server
    asked = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus])"
    )
    ours = [(url, status) for url, status in asked if url.startswith(served)]
    assert any(url == manifest for url, _ in ours), ours
    assert any(url.endswith(f"/iiif-img/{c}/1/page1/info.json") for url, _ in ours), ours
    assert any(f"/iiif-img/{c}/1/page1/" in url and url.endswith(".jpg") for url, _ in ours)
    assert [u for u, status in ours if status >= 400] == []
    title = browser.execute_script("return document.body.innerText")
    assert "Generated from 'book' named query: b1" in title
