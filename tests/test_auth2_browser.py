"""The whole IIIF Authorization Flow 2.0 in headless Chromium, as a viewer on another origin runs
it: the access service in a window of its own, the token service in a frame, the probe, a tile."""

from __future__ import annotations

from tests.conftest import basic, make_customer, make_image, wait_for

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body>
<button id="open" onclick="openAccess()">Sign in</button>
<script>
  window.report = {messages: [], probes: [], tile: null};
  function openAccess() { window.open("ACCESS?origin=" + encodeURIComponent(location.origin)); }
  window.addEventListener("message", (e) => {
    report.messages.push({origin: e.origin, data: e.data});
  });
  function token() {
    const frame = document.createElement("iframe");
    frame.src = "TOKEN?messageId=m1&origin=" + encodeURIComponent(location.origin);
    document.body.appendChild(frame);
  }
  async function probe(token) {
    const headers = token ? {Authorization: "Bearer " + token} : {};
    const r = await fetch("PROBE", {headers});
    report.probes.push({http: r.status, body: await r.json()});
  }
  function tile() {
    const img = new Image();
    img.onload = () => { report.tile = img.naturalWidth; };
    img.onerror = () => { report.tile = "failed"; };
    img.src = "TILE";
  }
</script></body></html>
"""


def test_a_viewer_runs_the_whole_flow(app, runner, served, origin, static_site, browser):
    made = make_customer(runner, "reader")
    headers, c = basic(made["key"], made["secret"]), made["id"]
    client = app.test_client()
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    role = {"label": "Readers", "heading": "Readers only", "confirmLabel": "I agree"}
    client.put(f"/customers/{c}/roles/reg", json=role, headers=headers)
    picture = make_image(origin.folder / "flow.png", (1000, 800), "PNG")
    body = {
        "origin": origin.url(picture.name),
        "roles": [f"{served}/customers/{c}/roles/reg"],
        "maxUnauthorised": 100,
    }
    assert (
        client.put(f"/customers/{c}/spaces/1/images/f", json=body, headers=headers).status_code
        == 201
    )
    info = client.get(f"/iiif-img/{c}/1/f/info.json").get_json()
    access_service = info["service"][0]["service"][0]
    token_service = access_service["service"][0]
    site, page_origin = static_site
    page = (
        PAGE.replace("ACCESS", access_service["id"])
        .replace("TOKEN", token_service["id"])
        .replace("PROBE", info["service"][0]["id"])
        .replace("TILE", f"{served}/iiif-img/{c}/1/f/0,0,256,256/256,/0/default.jpg")
    )
    (site / "index.html").write_text(page)
    browser.get(f"{page_origin}/index.html")
    report = lambda d: d.execute_script("return window.report")  # noqa: E731

    browser.execute_script("probe(null)")  # (without a token: 401, said with HTTP 200)
    wait_for(browser, lambda d: len(report(d)["probes"]) == 1)
    assert report(browser)["probes"][0]["http"] == 200
    assert report(browser)["probes"][0]["body"]["status"] == 401

    viewer = browser.current_window_handle
    browser.find_element("id", "open").click()  # (a click: the window opens)
    wait_for(browser, lambda d: len(d.window_handles) == 2)
    browser.switch_to.window(next(h for h in browser.window_handles if h != viewer))
    wait_for(browser, lambda d: d.find_element("id", "confirm"))
    assert browser.find_element("id", "heading").text == "Readers only"
    browser.find_element("id", "confirm").click()
    wait_for(browser, lambda d: len(d.window_handles) == 1, 10)  # (it closes itself)
    browser.switch_to.window(viewer)

    browser.execute_script("token()")
    wait_for(browser, lambda d: len(report(d)["messages"]) == 1)
    message = report(browser)["messages"][0]
    assert message["origin"] == served
    assert message["data"]["type"] == "AuthAccessToken2", message
    assert message["data"]["messageId"] == "m1"
    browser.execute_script("probe(arguments[0])", message["data"]["accessToken"])
    wait_for(browser, lambda d: len(report(d)["probes"]) == 2)
    assert report(browser)["probes"][1]["body"]["status"] == 200

    browser.execute_script("tile()")  # (with the cookie the access service set)
    wait_for(browser, lambda d: report(d)["tile"] is not None)
    assert report(browser)["tile"] == 256
