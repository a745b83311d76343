"""Audio and video in the viewers people use, from npm at exact versions, in headless Chromium:
Mirador 4.0.0 and Universal Viewer 4.4.0 open a named query's manifest holding a Video and a
Sound canvas from a page of another origin, and play both (the media element's currentTime
advances; the video's frame is on the screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import media
from tests.conftest import basic, make_customer, wait_for
from tests.test_manifest_clients import CLIENTS, GREEN, MIRADOR, PAGE, RED, share_of

UV = CLIENTS / "node_modules/universalviewer/dist"

# The manifest clients' Mirador page, and how it goes to the next canvas: Mirador shows no
# "next" button for audio and video canvases.
MIRADOR_PAGE = PAGE.replace(
    "</script></body>",
    """  window.next = () => {
    const id = Object.keys(window.viewer.store.getState().windows)[0];
    window.viewer.store.dispatch(Mirador.setNextCanvas(id));
  };
</script></body>""",
)

UV_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="uv/uv.css"><script src="uv/umd/UV.js"></script></head>
<body style="margin: 0"><div id="uv" class="uv" style="width: 1000px; height: 700px"></div>
<script>
  window.uv = UV.init("uv", {manifest: "MANIFEST", embedded: true});
  window.next = () => {  // (a click on the second item of the contents panel)
    const items = [...document.querySelectorAll(".thumb")];
    items[1].click();
  };
</script></body></html>
"""


@pytest.fixture
def recordings(app, runner, served, origin) -> dict[str, Any]:
    """A customer's video and sound, 6 s each, in one named query's manifest ("book" av)."""
    media.video(origin.folder / "six.mpg", 6.0, (320, 240))
    media.wav(origin.folder / "six.wav", 6.0)
    made = make_customer(runner, "viewers")
    headers, c = basic(made["key"], made["secret"]), made["id"]
    client = app.test_client()
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    for n, (name, file) in enumerate((("film", "six.mpg"), ("talk", "six.wav")), start=1):
        body = {"origin": origin.url(file), "family": "T", "string1": "av", "number1": n}
        r = client.put(f"/customers/{c}/spaces/1/images/{name}", json=body, headers=headers)
        assert r.status_code == 202, r.get_json()
    assert app.extensions["dlcs.queue"].drain() == 2
    manifest = f"{served}/iiif-resource/{c}/book/av"
    doc = client.get(manifest.removeprefix(served)).get_json()
    assert [canvas["items"][0]["items"][0]["body"]["type"] for canvas in doc["items"]] == [
        "Video",
        "Sound",
    ]
    return {"customer": c, "manifest": manifest, "base": served}


def _plays(browser, tag: str) -> None:
    """Start the page's ``tag`` element (muted: nobody listens) and wait until it has played
    half a second of the transcode."""
    find = f"return document.querySelector('{tag}')"
    wait_for(browser, lambda d: d.execute_script(find) is not None, 40)
    browser.execute_script(f"const m = document.querySelector('{tag}'); m.muted = true; m.play();")
    wait_for(
        browser,
        lambda d: d.execute_script(f"return document.querySelector('{tag}').currentTime") > 0.5,
        30,
    )
    assert browser.execute_script(f"return document.querySelector('{tag}').error") is None


def _asked(browser, base: str) -> list[tuple[str, int]]:
    entries = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus])"
    )
    return [(url, status) for url, status in entries if url.startswith(base)]


def _play_both(browser, recordings, page_url: str, tmp_path: Path, name: str) -> None:
    c, base = recordings["customer"], recordings["base"]
    browser.set_window_size(1000, 700)
    browser.get(page_url)
    _plays(browser, "video")
    src = browser.execute_script("return document.querySelector('video').currentSrc")
    assert src == f"{base}/iiif-av/{c}/1/film/full/full/max/max/0/default.mp4"
    browser.execute_script("document.querySelector('video').pause()")

    def frame_shown(driver) -> bool:
        shot = driver.get_screenshot_as_png()
        return share_of(shot, RED) > 0.01 and share_of(shot, GREEN) > 0.01

    wait_for(browser, frame_shown, 20)
    (tmp_path / f"{name}-video.png").write_bytes(browser.get_screenshot_as_png())
    browser.execute_script("window.next()")
    _plays(browser, "audio")
    src = browser.execute_script("return document.querySelector('audio').currentSrc")
    assert src == f"{base}/iiif-av/{c}/1/talk/full/max/default.mp3"
    asked = _asked(browser, base)
    assert any(url == recordings["manifest"] for url, _ in asked), asked
    assert [url for url, status in asked if status >= 400] == []


def test_mirador_plays_a_video_and_a_sound_canvas(recordings, static_site, browser, tmp_path):
    if not MIRADOR.is_file():
        pytest.skip("mirador is not installed (make test runs npm ci in clients/)")
    site, page_origin = static_site
    (site / "mirador.min.js").write_bytes(MIRADOR.read_bytes())
    (site / "index.html").write_text(MIRADOR_PAGE.replace("MANIFEST", recordings["manifest"]))
    _play_both(browser, recordings, f"{page_origin}/index.html", tmp_path, "mirador")


def test_universal_viewer_plays_a_video_and_a_sound_canvas(
    recordings, static_site, browser, tmp_path
):
    if not (UV / "umd" / "UV.js").is_file():
        pytest.skip("universalviewer is not installed (make test runs npm ci in clients/)")
    site, page_origin = static_site
    (site / "uv").symlink_to(UV)
    (site / "index.html").write_text(UV_PAGE.replace("MANIFEST", recordings["manifest"]))
    _play_both(browser, recordings, f"{page_origin}/index.html", tmp_path, "uv")
