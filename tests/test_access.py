"""Access on delivery: maxUnauthorised and roles, and sessions of a customer holding roles."""

from __future__ import annotations

import io
import secrets

import pytest
from PIL import Image

from app.web.sessions import Sessions, cookie_name
from tests.conftest import make_image

WIDTH, HEIGHT = 1200, 900  # (thumbnails made: 1024 x 768, 400 x 300, 200 x 150, 100 x 75)


@pytest.fixture
def registered(alice, bob, origin):
    """Ingest alice's images as the rule table needs them; bob has a role "reg" of his own."""
    picture = make_image(origin.folder / "access.png", (WIDTH, HEIGHT), "PNG")
    c = alice.customer
    assert alice.put(f"/customers/{c}/roles/other", {"label": "Other"}).status_code == 201
    assert bob.put(f"/customers/{bob.customer}/roles/reg", {}).status_code == 201
    made = {}
    for name, roles, most in (
        ("open", [], -1),
        ("none", ["reg"], -1),
        ("zero", ["reg"], 0),
        ("small", ["reg"], 400),
    ):
        body = {
            "origin": origin.url(picture.name),
            "roles": [f"http://localhost/customers/{c}/roles/{r}" for r in roles],
            "maxUnauthorised": most,
        }
        r = alice.put(f"/customers/{c}/spaces/1/images/{name}", body)
        assert r.status_code == 201 and r.get_json()["width"] == WIDTH, r.get_json()
        made[name] = (roles, most)
    return made


def sessions_of(app, **config) -> Sessions:
    return Sessions({**app.config, **config}, app.extensions["dlcs.engine"])


def session_of(app, customer: int, roles: list[str]) -> str:
    """Start a session of ``customer`` holding ``roles``; return its cookie's value."""
    return sessions_of(app).start(customer, roles)[0]


def send(client, path: str, session: tuple[int, str] | None):
    """GET ``path`` with the cookie of ``session`` (its customer, its value), or none."""
    headers = {}
    if session is not None:
        customer, value = session
        headers["Cookie"] = f"{cookie_name(customer)}={value}"
    # (a client without a cookie jar of its own, which would replace the header)
    return client.application.test_client(use_cookies=False).get(path, headers=headers)


REQUESTS = {
    # name: (path below the service, whole image, longest side)
    "whole, below": ("full/300,/0/default.jpg", True, 300),
    "whole, at": ("full/400,/0/default.jpg", True, 400),
    "whole, above": ("full/500,/0/default.jpg", True, 500),
    "a region, small": ("0,0,600,450/100,/0/default.jpg", False, 100),
    "a tile": ("0,0,256,256/256,/0/default.jpg", False, 256),
}
SESSIONS = ("no session", "wrong role", "right role", "other customer's")


def _session(app, alice, bob, which: str) -> tuple[int, str] | None:
    if which == "no session":
        return None
    if which == "wrong role":
        return alice.customer, session_of(app, alice.customer, ["other"])
    if which == "right role":
        return alice.customer, session_of(app, alice.customer, ["reg"])
    return bob.customer, session_of(app, bob.customer, ["reg"])  # (bob's "reg" is bob's)


def expected(roles: list[str], most: int, whole: bool, longest: int, which: str) -> int:
    if not roles or (whole and 0 < longest <= most):
        return 200
    return {"no session": 401, "other customer's": 401, "wrong role": 403}.get(which, 200)


@pytest.mark.parametrize("which", SESSIONS)
@pytest.mark.parametrize("request_name", list(REQUESTS))
def test_the_rule_on_the_image_api(app, client, alice, bob, registered, request_name, which):
    path, whole, longest = REQUESTS[request_name]
    session = _session(app, alice, bob, which)
    for image, (roles, most) in registered.items():
        r = send(client, f"/iiif-img/{alice.customer}/1/{image}/{path}", session)
        want = expected(roles, most, whole, longest, which)
        assert r.status_code == want, (image, r.status_code, r.get_data(as_text=True)[:200])
        if want != 200:
            assert r.get_json()["@type"] == "Error"
        if want == 401:
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        if roles:  # (a restricted image: only the caller may keep it, asking each time)
            assert r.status_code != 200 or r.headers["Cache-Control"] == "private, no-cache"
            assert r.status_code != 200 or "Cookie" in r.headers["Vary"]
        else:
            assert r.headers["Cache-Control"].startswith("public")


THUMBS = {"100,": 100, "200,": 200, "400,": 400, "1024,": 1024, "max": 1024, "!400,400": 400}


@pytest.mark.parametrize("which", SESSIONS)
def test_the_rule_on_thumbnails(app, client, alice, bob, registered, which):
    session = _session(app, alice, bob, which)
    for image, (roles, most) in registered.items():
        for size, longest in THUMBS.items():
            r = send(
                client, f"/thumbs/{alice.customer}/1/{image}/full/{size}/0/default.jpg", session
            )
            assert r.status_code == expected(roles, most, True, longest, which), (image, size)


def test_a_session_of_another_customer_or_altered_or_expired_opens_nothing(
    app, client, alice, bob, registered
):
    tile = f"/iiif-img/{alice.customer}/1/none/0,0,256,256/256,/0/default.jpg"
    good = session_of(app, alice.customer, ["reg"])
    assert send(client, tile, (alice.customer, good)).status_code == 200
    bobs = session_of(app, bob.customer, ["reg"])
    assert send(client, tile, (alice.customer, bobs)).status_code == 401  # (under alice's name)
    altered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert send(client, tile, (alice.customer, altered)).status_code == 401
    forged = secrets.token_urlsafe(32)  # (a value of the right kind that names no session)
    assert send(client, tile, (alice.customer, forged)).status_code == 401
    expired = sessions_of(app, AUTH_SESSION_SECONDS=-1).start(alice.customer, ["reg"])[0]
    assert send(client, tile, (alice.customer, expired)).status_code == 401


def test_an_access_token_opens_the_probe_and_head_but_no_pixels(app, client, alice, registered):
    c = alice.customer
    tile = f"/iiif-img/{c}/1/none/0,0,256,256/256,/0/default.jpg"
    cookie = session_of(app, c, ["reg"])
    token = sessions_of(app).token_of(cookie)
    assert token != cookie
    fresh = client.application.test_client(use_cookies=False)
    for value in (token, cookie):  # (neither value as a bearer token opens a GET)
        r = fresh.get(tile, headers={"Authorization": f"Bearer {value}"})
        assert r.status_code == 401 and not r.data.startswith(b"\xff\xd8")
    thumb = f"/thumbs/{c}/1/none/full/1024,/0/default.jpg"
    assert fresh.get(thumb, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    head = fresh.head(tile, headers={"Authorization": f"Bearer {token}"})
    assert head.status_code == 200 and head.data == b""
    assert fresh.head(tile, headers={"Authorization": f"Bearer {cookie}"}).status_code == 401
    probe = fresh.get(f"/auth/v2/probe/{c}/1/none", headers={"Authorization": f"Bearer {token}"})
    assert probe.json["status"] == 200
    assert send(client, tile, (c, cookie)).status_code == 200  # (the cookie opens it)


def test_info_json_describes_what_is_open_to_a_caller_without_the_role(
    app, client, alice, registered
):
    c = alice.customer
    full = client.get(f"/iiif-img/{c}/1/open/info.json").json
    small = client.get(f"/iiif-img/{c}/1/small/info.json")
    assert small.status_code == 200 and small.headers["Cache-Control"] == "private, no-cache"
    doc = small.json
    assert (doc["width"], doc["height"]) == (WIDTH, HEIGHT)
    assert (doc["maxWidth"], doc["maxHeight"]) == (400, 400)
    assert all(max(s["width"], s["height"]) <= 400 for s in doc["sizes"]) and doc["sizes"]
    # every size open to anyone: the pyramid's within 400, and 400 itself (the largest)
    assert doc["sizes"][-1] == {"width": 400, "height": 300}
    for size in doc["sizes"]:
        w, h = size["width"], size["height"]
        opened = client.get(f"/iiif-img/{c}/1/small/full/{w},{h}/0/default.jpg")
        assert opened.status_code == 200, size
    # A tile of a power of two no larger than 400 at the scale where one is the whole image.
    assert doc["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [8]}]
    tile = client.get(f"/iiif-img/{c}/1/small/full/150,/0/default.jpg")  # (as a viewer asks)
    assert tile.status_code == 200
    seen = send(client, f"/iiif-img/{c}/1/small/info.json", (c, session_of(app, c, ["reg"])))
    got = seen.json
    services = {k: got.pop(k) for k in ("@context", "service")}  # (the auth services)
    assert services["@context"][-1] == full["@context"] and services["service"]
    assert got | {"@context": full["@context"]} == full | {"id": got["id"]}
    assert seen.headers["ETag"] != small.headers["ETag"]
    nothing = client.get(f"/iiif-img/{c}/1/zero/info.json").json
    assert nothing["sizes"] == [] and nothing["tiles"] == []
    thumbs = client.get(f"/thumbs/{c}/1/small/info.json").json
    assert [s["width"] for s in thumbs["sizes"]] == [100, 200, 400]


def test_changing_roles_or_max_unauthorised_takes_effect_at_once(client, alice, registered):
    c = alice.customer
    path = f"/iiif-img/{c}/1/small/full/300,/0/default.jpg"
    first = client.get(path)
    assert first.status_code == 200
    alice.patch(f"/customers/{c}/spaces/1/images/small", {"maxUnauthorised": 200})
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 401  # (not a 304: the tag is checked only once access is)
    alice.patch(f"/customers/{c}/spaces/1/images/small", {"roles": []})
    assert client.get(path).status_code == 200
    assert client.get(path).headers["Cache-Control"].startswith("public")


# Every spelling of a request for more than 400 px of the image (maxUnauthorised 400).
LEAKS = [
    "full/max/0/default.jpg",
    "full/401,/0/default.jpg",
    "full/,301/0/default.jpg",
    "full/!401,401/0/default.jpg",
    "full/401,300/0/default.jpg",
    "full/pct:50/0/default.jpg",
    "full/^max/0/default.jpg",
    "full/^1300,/0/default.jpg",
    "full/max/90/default.jpg",
    "full/max/!0/default.jpg",
    "full/max/45/default.png",
    "full/max/0/gray.webp",
    "full/max/0/bitonal.png",
    "pct:0,0,100,100/max/0/default.jpg",
    "0,0,1200,900/401,/0/default.jpg",
    "square/300,/0/default.jpg",
    "0,0,1199,900/300,/0/default.jpg",
    "pct:0,0,50,50/200,/0/default.jpg",
    "600,450,600,450/100,/0/default.jpg",
]


@pytest.mark.parametrize("path", LEAKS)
def test_no_spelling_leaks_a_pixel_above_max_unauthorised(client, alice, registered, path):
    r = client.get(f"/iiif-img/{alice.customer}/1/small/{path}")
    assert r.status_code == 401, (path, r.status_code)
    assert not r.data.startswith((b"\xff\xd8", b"\x89PNG", b"RIFF"))


@pytest.mark.parametrize(
    "path", ["full/full/0/default.jpg", "full/401,/0/default.jpg", "full/pct:50/0/default.png"]
)
def test_no_spelling_of_image_api_2_leaks_either(client, alice, registered, path):
    r = client.get(f"/iiif-img/v2/{alice.customer}/1/small/{path}")
    assert r.status_code == 401


def test_what_is_open_is_the_size_asked_for(client, alice, registered):
    r = client.get(f"/iiif-img/{alice.customer}/1/small/full/!400,400/0/default.jpg")
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.data)).size == (400, 300)
    thumb = client.get(f"/thumbs/{alice.customer}/1/small/full/1024,/0/default.jpg")
    assert thumb.status_code == 401  # (made, but never served without the role)


HUGE = "9" * 400


@pytest.mark.parametrize(
    "path",
    [
        f"full/{HUGE},/0/default.jpg",
        f"full/pct:{HUGE}/0/default.jpg",
        f"pct:0,0,{HUGE},1/max/0/default.jpg",
        f"0,0,{HUGE},1/max/0/default.jpg",
        f"full/max/{HUGE}/default.jpg",
    ],
)
@pytest.mark.parametrize("service", ["/iiif-img", "/iiif-img/v3", "/iiif-img/v2", "/thumbs"])
def test_numbers_too_large_are_400_on_every_image_path(client, alice, registered, service, path):
    if service == "/thumbs" and not path.startswith("full/"):
        pytest.skip("thumbnails are of the full image only")
    for image in ("open", "small"):  # (a restricted image's 400 says no more than an open one's)
        r = client.get(f"{service}/{alice.customer}/1/{image}/{path}")
        assert r.status_code == 400, (service, image, r.status_code, r.data[:200])
        assert r.get_json()["violations"][0]["message"].endswith("digits")


# -- the Host header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/customers/1", "/iiif-img/1/1/open/info.json", "/iiif-resource/1/space/1"]
)
def test_a_host_not_trusted_is_refused_and_never_reflected(client, alice, registered, path):
    r = client.get(path, headers={"Host": "evil.example"})
    assert r.status_code == 400, (path, r.status_code)
    assert b"evil.example" not in r.data
    assert r.get_json()["@type"] == "Error"
    assert "Host" in r.get_json()["detail"] or "host" in r.get_json()["detail"]


@pytest.mark.parametrize("app_config", [{"TRUSTED_HOSTS": ["localhost", ".example.org"]}])
def test_a_trusted_host_is_the_base_of_every_iri(client, alice, registered):
    r = client.get(
        f"/iiif-img/{alice.customer}/1/open/info.json", headers={"Host": "images.example.org"}
    )
    assert r.status_code == 200
    assert r.get_json()["id"].startswith("http://images.example.org/iiif-img/")
    refused = client.get("/", headers={"Host": "example.org.evil.example"})
    assert refused.status_code == 400  # (its error's IRIs are on the first trusted host)
    assert refused.get_json()["@context"] == "http://localhost/contexts/Error.jsonld"


@pytest.mark.parametrize(
    "app_config", [{"PUBLIC_BASE_URL": "http://localhost", "TRUSTED_HOSTS": None}]
)
def test_with_a_public_base_url_the_host_is_not_reflected(client, alice, registered):
    r = client.get(f"/iiif-img/{alice.customer}/1/open/info.json", headers={"Host": "evil.example"})
    assert r.status_code == 200 and b"evil.example" not in r.data
    assert r.get_json()["id"].startswith("http://localhost/iiif-img/")
