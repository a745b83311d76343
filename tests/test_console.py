"""The built-in console in a real browser: headless Chromium driven by Selenium."""

from __future__ import annotations

import pytest

from tests.conftest import text_of, wait_for


def test_follow_links_and_patch_an_image_in_the_console(app, pictured, browser):
    from selenium.webdriver.common.by import By

    served, made, c = pictured["base"], pictured, pictured["customer"]
    role, headers, client = pictured["role"], pictured["headers"], app.test_client()

    browser.get(f"{served}/")
    browser.find_element(By.NAME, "key").send_keys(made["key"])
    browser.find_element(By.NAME, "secret").send_keys(made["secret"])
    browser.find_element(By.CSS_SELECTOR, "#credentials button").click()
    wait_for(browser, lambda d: made["key"] in text_of(d, "#who"))

    image_url = f"{served}/customers/{c}/spaces/1/images/pic"
    browser.get(image_url)
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-property="string1"]')
    assert "before" in row.text

    browser.find_element(By.CSS_SELECTOR, f'a[href="{role}"]').click()
    wait_for(browser, lambda d: d.current_url == role)
    assert "Registered users" in browser.find_element(By.ID, "properties").text
    browser.back()
    wait_for(browser, lambda d: d.current_url == image_url)

    form = browser.find_element(By.CSS_SELECTOR, 'form[data-method="PATCH"]')
    form.find_element(By.NAME, "string1").send_keys("changed in the browser")
    form.find_element(By.TAG_NAME, "button").click()
    wait_for(
        browser,
        lambda d: "changed in the browser" in text_of(d, 'tr[data-property="string1"]'),
    )
    doc = client.get(f"/customers/{c}/spaces/1/images/pic", headers=headers).get_json()
    assert doc["string1"] == "changed in the browser"
    assert doc["roles"][0].endswith("/roles/reg")  # PATCH left the rest alone


def test_a_protected_page_asks_a_browser_to_sign_in(app, pictured, browser):
    """The 401 page a browser gets is the console's, and signing in on it opens the page.

    (Chromium first shows its own prompt for the Basic challenge, which a page cannot drive:
    the 401 is fetched here as the page would be after that prompt is dismissed.)
    """
    from selenium.webdriver.common.by import By

    served, made, c = pictured["base"], pictured, pictured["customer"]
    image_url = f"{served}/customers/{c}/spaces/1/images/pic"
    browser.get(f"{served}/")
    status = browser.execute_async_script(
        """
        const [url, done] = arguments;
        fetch(url, {headers: {Accept: "text/html"}, credentials: "omit"}).then(async (r) => {
          const page = await r.text();
          history.replaceState(null, "", url);
          document.open(); document.write(page); document.close();
          done(r.status);
        });
        """,
        image_url,
    )
    assert status == 401
    wait_for(browser, lambda d: "sign in" in text_of(d, "#sign-in"))
    browser.find_element(By.NAME, "key").send_keys(made["key"])
    browser.find_element(By.NAME, "secret").send_keys(made["secret"])
    browser.find_element(By.CSS_SELECTOR, "#credentials button").click()
    wait_for(browser, lambda d: "before" in text_of(d, 'tr[data-property="string1"]'))
    assert browser.current_url == image_url


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/ld+json", "application/ld+json"),
        ("*/*", "application/ld+json"),
        ("", "application/ld+json"),
    ],
)
def test_a_401_is_the_sign_in_page_only_for_a_browser(client, accept, media_type):
    r = client.get("/customers/1", headers={"Accept": accept} if accept else {})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.mimetype == media_type
    if media_type == "text/html":
        assert b'<form id="credentials">' in r.data and b"sign in" in r.data


def test_the_console_plays_video_and_audio_and_links_a_file(app, pictured, origin, browser):
    from selenium.webdriver.common.by import By

    served, c, headers = pictured["base"], pictured["customer"], pictured["headers"]
    client = app.test_client()
    assets = {"v": ("clip.mpg", "T"), "a": ("sound.wav", "T"), "f": ("doc.pdf", "F")}
    for name, (file, family) in assets.items():
        body = {"origin": origin.url(file), "family": family}
        client.put(f"/customers/{c}/spaces/1/images/{name}", json=body, headers=headers)
    app.extensions["dlcs.queue"].drain()
    browser.get(f"{served}/")
    browser.find_element(By.NAME, "key").send_keys(pictured["key"])
    browser.find_element(By.NAME, "secret").send_keys(pictured["secret"])
    browser.find_element(By.CSS_SELECTOR, "#credentials button").click()
    wait_for(browser, lambda d: pictured["key"] in text_of(d, "#who"))
    for name, tag in (("v", "video"), ("a", "audio")):
        browser.get(f"{served}/customers/{c}/spaces/1/images/{name}")
        player = browser.find_element(By.CSS_SELECTOR, f"#media {tag}")
        browser.execute_script("arguments[0].muted = true; arguments[0].play();", player)
        # it plays: the browser decoded the transcode (the origins are formats it cannot play)
        wait_for(
            browser,
            lambda d, p=player: d.execute_script("return arguments[0].currentTime", p) > 0.3,
        )
        assert browser.execute_script("return arguments[0].error", player) is None
        if tag == "video":
            width = browser.execute_script("return arguments[0].videoWidth", player)
            assert width == 320
    browser.get(f"{served}/customers/{c}/spaces/1/images/f")
    link = browser.find_element(By.ID, "media-link")
    assert link.get_attribute("href") == f"{served}/file/{c}/1/f"
    r = client.get(f"/file/{c}/1/f")
    assert r.status_code == 200 and r.data == (origin.folder / "doc.pdf").read_bytes()
