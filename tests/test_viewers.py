"""A real IIIF viewer (OpenSeadragon, from npm) in headless Chromium opens an image's info.json,
from a page of another origin, and loads its tiles at every zoom with no failed request."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from tests.conftest import basic, make_customer, wait_for

OSD = Path(__file__).resolve().parents[1] / "clients/node_modules/openseadragon/build/openseadragon"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="openseadragon.min.js"></script></head>
<body><div id="viewer" style="width: 800px; height: 600px"></div>
<script>
  window.report = {opened: false, openFailed: null, loaded: 0, failed: []};
  const viewer = OpenSeadragon({id: "viewer", prefixUrl: "images/", tileSources: "INFO",
                                showNavigationControl: false, immediateRender: true});
  window.viewer = viewer;
  viewer.addHandler("open", () => { report.opened = true; });
  viewer.addHandler("open-failed", (e) => { report.openFailed = String(e.message); });
  viewer.addHandler("tile-loaded", () => { report.loaded += 1; });
  viewer.addHandler("tile-load-failed", (e) => { report.failed.push(String(e.message)); });
</script></body></html>
"""


@pytest.fixture
def viewer_site(static_site):
    """A page with OpenSeadragon, served from an origin of its own on loopback."""
    if not (OSD / "openseadragon.min.js").is_file():
        pytest.skip("openseadragon is not installed (make test runs npm ci in clients/)")
    site, url = static_site
    (site / "openseadragon.min.js").write_bytes((OSD / "openseadragon.min.js").read_bytes())
    return site, url


def test_openseadragon_loads_every_tile_it_asks_for(
    app, runner, served, origin, viewer_site, browser
):
    xy = pyvips.Image.xyz(3000, 2000)
    wave = (xy[0] * 1.8).sin() * (xy[1] * 1.8).sin() * 127 + 128
    wave.bandjoin([xy[0] * (255 / 3000), xy[1] * (255 / 2000)]).cast("uchar").jpegsave(
        str(origin.folder / "viewed.jpg")
    )
    made = make_customer(runner, "viewer")
    headers, c = basic(made["key"], made["secret"]), made["id"]
    client = app.test_client()
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    r = client.put(
        f"/customers/{c}/spaces/1/images/v",
        json={"origin": origin.url("viewed.jpg")},
        headers=headers,
    )
    assert r.get_json()["width"] == 3000, r.get_json()
    site, page_origin = viewer_site
    info = f"{served}/iiif-img/{c}/1/v/info.json"
    (site / "index.html").write_text(PAGE.replace("INFO", info))
    browser.get(f"{page_origin}/index.html")
    report = lambda d: d.execute_script("return window.report")  # noqa: E731
    wait_for(browser, lambda d: report(d)["opened"] or report(d)["openFailed"], 20)
    assert report(browser)["openFailed"] is None
    wait_for(browser, lambda d: report(d)["loaded"] > 0, 20)
    first = report(browser)["loaded"]
    # Deeper: the viewer asks for tiles of the largest levels.
    browser.execute_script("viewer.viewport.zoomTo(viewer.viewport.getMaxZoom(), null, true)")
    wait_for(browser, lambda d: report(d)["loaded"] > first, 20)
    wait_for(
        browser,
        lambda d: d.execute_script("return viewer.world.getItemAt(0).getFullyLoaded()"),
        20,
    )
    found = report(browser)
    assert found["failed"] == [], found["failed"]
    assert found["loaded"] > first
