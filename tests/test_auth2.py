"""IIIF Authorization Flow 2.0 over HTTP: grants, access services, the token service, the probe."""

from __future__ import annotations

import json
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from app.factory import create_app
from app.storage.db import dispose
from app.web.sessions import cookie_name
from tests.conftest import make_image


@pytest.fixture
def restricted(alice, bob, origin):
    """Alice's image "r" with role "reg" (maxUnauthorised 200); the path of its service."""
    picture = make_image(origin.folder / "auth2.png", (800, 600), "PNG")
    c = alice.customer
    alice.patch(
        f"/customers/{c}/roles/reg",
        {"heading": "Registered readers", "note": "Agree to the terms.", "confirmLabel": "I agree"},
    )
    assert bob.put(f"/customers/{bob.customer}/roles/reg", {}).status_code == 201
    body = {
        "origin": origin.url(picture.name),
        "roles": [f"http://localhost/customers/{c}/roles/reg"],
        "maxUnauthorised": 200,
    }
    assert alice.put(f"/customers/{c}/spaces/1/images/r", body).status_code == 201
    return f"/iiif-img/{c}/1/r"


def fresh(client):
    """A client with no cookie jar: each request sends only the headers it is given."""
    return client.application.test_client(use_cookies=False)


def session_cookie(response, customer: int) -> str:
    """Return the session cookie a response sets (its value), checking how it is set."""
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("dlcs-auth2"))
    parsed = SimpleCookie(header)[cookie_name(customer)]
    assert parsed["httponly"] and parsed["secure"] and parsed["samesite"] == "None"
    assert parsed["path"] == "/" and int(parsed["max-age"]) == 600
    return parsed.value


def with_cookie(customer: int, value: str) -> dict[str, str]:
    return {"Cookie": f"{cookie_name(customer)}={value}"}


def grant_of(alice, roles: list[str]) -> dict:
    c = alice.customer
    iris = [f"http://localhost/customers/{c}/roles/{r}" for r in roles]
    return alice.post(f"/customers/{c}/authGrants", {"roles": iris})


def test_a_grant_becomes_a_session_that_opens_the_image(client, alice, restricted):
    c = alice.customer
    tile = f"{restricted}/0,0,256,256/256,/0/default.jpg"
    assert fresh(client).get(tile).status_code == 401
    r = grant_of(alice, ["reg"])
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    assert doc["@type"] == "AuthGrant" and doc["roles"] == [
        f"http://localhost/customers/{c}/roles/reg"
    ]
    assert doc["grant"] and doc["expires"]
    signed_in = fresh(client).get(f"/auth/v2/access/{c}/reg?grant={quote(doc['grant'])}")
    assert signed_in.status_code == 200 and "close" in signed_in.get_data(as_text=True)
    value = session_cookie(signed_in, c)
    assert fresh(client).get(tile, headers=with_cookie(c, value)).status_code == 200
    probe = fresh(client).get(f"/auth/v2/probe/{c}/1/r", headers=with_cookie(c, value)).json
    assert (probe["type"], probe["status"]) == ("AuthProbeResult2", 200)


def test_grants_that_open_nothing(client, alice, bob, restricted):
    c = alice.customer
    bobs_role = [f"http://localhost/customers/{bob.customer}/roles/reg"]
    r = alice.post(f"/customers/{c}/authGrants", {"roles": bobs_role})
    assert r.status_code == 400 and r.get_json()["violations"][0]["propertyPath"] == "roles[0]"
    assert alice.post(f"/customers/{c}/authGrants", {"roles": []}).status_code == 400
    assert fresh(client).post(f"/customers/{c}/authGrants", json={"roles": []}).status_code == 401
    good = grant_of(alice, ["reg"]).get_json()["grant"]
    bobs = bob.post(f"/customers/{bob.customer}/authGrants", {"roles": bobs_role}).get_json()
    for grant in (bobs["grant"], good[:-2] + ("xx" if not good.endswith("xx") else "yy")):
        r = fresh(client).get(f"/auth/v2/access/{c}/reg?grant={quote(grant)}")
        assert r.status_code == 401 and "Set-Cookie" not in r.headers


@pytest.mark.parametrize("app_config", [{"AUTH_GRANT_SECONDS": 1}])
def test_an_expired_grant_opens_nothing(client, alice, restricted):
    grant = grant_of(alice, ["reg"]).get_json()["grant"]
    time.sleep(2.1)  # (its age in whole seconds past 1)
    r = fresh(client).get(f"/auth/v2/access/{alice.customer}/reg?grant={quote(grant)}")
    assert r.status_code == 401 and "Set-Cookie" not in r.headers


def test_the_clickthrough_page_and_its_confirmation(client, alice, restricted):
    c = alice.customer
    page = fresh(client).get(f"/auth/v2/access/{c}/reg?origin=https://viewer.example")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Registered readers" in text and "Agree to the terms." in text and "I agree" in text
    assert "Set-Cookie" not in page.headers
    confirmed = fresh(client).post(f"/auth/v2/access/{c}/reg")
    value = session_cookie(confirmed, c)
    tile = f"{restricted}/0,0,256,256/256,/0/default.jpg"
    assert fresh(client).get(tile, headers=with_cookie(c, value)).status_code == 200
    assert fresh(client).get(f"/auth/v2/access/{c}/nothing").status_code == 404
    forged = fresh(client).post(
        f"/auth/v2/access/{c}/reg", headers={"Origin": "https://elsewhere.example"}
    )
    assert forged.status_code == 403 and "Set-Cookie" not in forged.headers


def test_a_login_role_sends_the_user_to_the_customers_sign_in_page(client, alice, restricted):
    c = alice.customer
    sign_in = "https://library.example/sign-in?site=dlcs"
    alice.patch(f"/customers/{c}/roles/reg", {"accessProfile": "login", "signInUrl": sign_in})
    r = fresh(client).get(f"/auth/v2/access/{c}/reg")
    assert r.status_code == 303
    target = urlsplit(r.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://library.example/sign-in"
    back = parse_qs(target.query)["returnUrl"][0]
    assert back == f"http://localhost/auth/v2/access/{c}/reg"
    assert fresh(client).post(f"/auth/v2/access/{c}/reg").status_code == 303  # (no clickthrough)
    r = alice.patch(f"/customers/{c}/roles/reg", {"accessProfile": "sometimes"})
    assert r.status_code == 400


def _posted(page) -> tuple[dict, str]:
    found = re.search(r"postMessage\((.*), (.*)\);", page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    return json.loads(found.group(1)), json.loads(found.group(2))


def test_the_token_service_posts_the_session_to_the_origin_that_asked(client, alice, restricted):
    c = alice.customer
    value = session_cookie(fresh(client).post(f"/auth/v2/access/{c}/reg"), c)
    url = f"/auth/v2/token/{c}?messageId=m1&origin=https://viewer.example"
    page = fresh(client).get(url, headers=with_cookie(c, value))
    assert page.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert "X-Frame-Options" not in page.headers
    message, target = _posted(page)
    assert target == "https://viewer.example"
    assert message["type"] == "AuthAccessToken2" and message["messageId"] == "m1"
    assert 598 <= message["expiresIn"] <= 600
    probe = fresh(client).get(
        f"/auth/v2/probe/{c}/1/r", headers={"Authorization": f"Bearer {message['accessToken']}"}
    )
    assert probe.json["status"] == 200
    message, _ = _posted(fresh(client).get(url))  # (no session)
    assert (message["type"], message["profile"]) == ("AuthAccessTokenError2", "missingAspect")
    assert message["messageId"] == "m1"
    for bad in ("javascript:alert(1)", "https://viewer.example/page", ""):
        page = fresh(client).get(
            f"/auth/v2/token/{c}?messageId=m2&origin={quote(bad)}", headers=with_cookie(c, value)
        )
        message, _ = _posted(page)
        assert message["profile"] == "invalidOrigin" and "accessToken" not in message
    message, _ = _posted(fresh(client).get(f"/auth/v2/token/{c}?origin=https://viewer.example"))
    assert message["profile"] == "invalidRequest"


def test_the_probe_says_what_the_caller_may_see_and_allows_authorization(client, alice, restricted):
    c = alice.customer
    probe = fresh(client).get(f"/auth/v2/probe/{c}/1/r")
    assert probe.status_code == 200 and probe.json["status"] == 401
    assert probe.headers["Access-Control-Allow-Origin"] == "*"
    preflight = fresh(client).options(
        f"/auth/v2/probe/{c}/1/r",
        headers={
            "Origin": "https://viewer.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert fresh(client).get(f"/auth/v2/probe/{c}/1/nothing").json["status"] == 404
    wrong = fresh(client).post(f"/auth/v2/access/{c}/other")
    assert wrong.status_code == 404  # (alice has no role "other" here)


def test_logout_ends_the_session_for_its_cookie_and_its_token_at_once(
    app, client, alice, restricted
):
    c = alice.customer
    value = session_cookie(fresh(client).post(f"/auth/v2/access/{c}/reg"), c)
    message, _ = _posted(
        fresh(client).get(
            f"/auth/v2/token/{c}?messageId=m&origin=https://viewer.example",
            headers=with_cookie(c, value),
        )
    )
    token = message["accessToken"]
    tile = f"{restricted}/0,0,256,256/256,/0/default.jpg"
    bearer = {"Authorization": f"Bearer {token}"}
    probe = f"/auth/v2/probe/{c}/1/r"
    assert fresh(client).get(tile, headers=with_cookie(c, value)).status_code == 200
    assert fresh(client).head(tile, headers=bearer).status_code == 200
    assert fresh(client).get(probe, headers=bearer).json["status"] == 200
    r = fresh(client).get(f"/auth/v2/logout/{c}", headers=with_cookie(c, value))
    cookie = SimpleCookie(r.headers["Set-Cookie"])[cookie_name(c)]
    assert r.status_code == 200 and cookie.value == "" and cookie["max-age"] == "0"
    # The old values open nothing, in this process or any other (a second app, its own pools).
    other = create_app(
        {"DATABASE_URL": app.config["DATABASE_URL"], "STORAGE_DIR": app.config["STORAGE_DIR"],
         "SECRET_KEY": app.config["SECRET_KEY"], "EMBEDDED_WORKER": False}
    )  # fmt: skip
    for each in (client, other.test_client()):
        each = each.application.test_client(use_cookies=False)
        assert each.get(tile, headers=with_cookie(c, value)).status_code == 401
        assert each.head(tile, headers=bearer).status_code == 401
        assert each.get(probe, headers=bearer).json["status"] == 401
        assert each.get(probe, headers=with_cookie(c, value)).json["status"] == 401
    dispose(other)


def test_a_grant_is_taken_once_and_only_at_a_role_it_names(client, alice, restricted):
    c = alice.customer
    assert alice.put(f"/customers/{c}/roles/staff", {"label": "Staff"}).status_code == 201
    grant = grant_of(alice, ["reg"]).get_json()["grant"]
    first = fresh(client).get(f"/auth/v2/access/{c}/reg?grant={quote(grant)}")
    assert first.status_code == 200 and session_cookie(first, c)
    for role in ("reg", "staff"):
        again = fresh(client).get(f"/auth/v2/access/{c}/{role}?grant={quote(grant)}")
        assert again.status_code == 401 and "Set-Cookie" not in again.headers
    other = grant_of(alice, ["reg"]).get_json()["grant"]
    elsewhere = fresh(client).get(f"/auth/v2/access/{c}/staff?grant={quote(other)}")
    assert elsewhere.status_code == 403 and "Set-Cookie" not in elsewhere.headers
    assert "does not name the role staff" in elsewhere.get_json()["detail"]
    both = grant_of(alice, ["reg", "staff"]).get_json()["grant"]
    assert fresh(client).get(f"/auth/v2/access/{c}/staff?grant={quote(both)}").status_code == 200


def test_pages_that_confirm_or_end_a_session_may_not_be_framed(client, alice, restricted):
    c = alice.customer
    pages = [
        fresh(client).get(f"/auth/v2/access/{c}/reg"),
        fresh(client).post(f"/auth/v2/access/{c}/reg"),
        fresh(client).get(f"/auth/v2/logout/{c}"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    token = fresh(client).get(f"/auth/v2/token/{c}?messageId=m&origin=https://v.example")
    assert "X-Frame-Options" not in token.headers  # (the token service is framed by design)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/sign-in",
        "ftp://library.example/sign-in",
        "/sign-in",
        "sign-in",
        "http://library.example/sign-in",
        "https://",
        "https://library.example:99999/",
        "https://library.example/a b",
        "https://library.example\\@evil.example/",
        "JAVASCRIPT:alert(1)",
    ],
)
def test_a_sign_in_url_must_be_an_absolute_https_url(client, alice, restricted, url):
    c = alice.customer
    role = f"/customers/{c}/roles/reg"
    before = alice.get(role).get_json()
    for r in (
        alice.patch(role, {"accessProfile": "login", "signInUrl": url}),
        alice.put(role, {"accessProfile": "login", "signInUrl": url}),
    ):
        assert r.status_code == 400, (url, r.get_json())
        (violation,) = r.get_json()["violations"]
        assert violation["propertyPath"] == "signInUrl"
        assert violation["message"].startswith("must"), violation
    assert alice.get(role).get_json() == before  # (nothing written)


@pytest.mark.parametrize("app_config", [{"ALLOW_HTTP_URLS": True}])
def test_http_sign_in_urls_where_the_server_allows_them(client, alice, restricted):
    c = alice.customer
    role = f"/customers/{c}/roles/reg"
    ok = alice.patch(role, {"accessProfile": "login", "signInUrl": "http://lib.example/in"})
    assert ok.status_code == 200
    assert alice.patch(role, {"signInUrl": "javascript:x"}).status_code == 400
    assert alice.patch(role, {"signInUrl": ""}).status_code == 200  # (none)


def test_a_sign_in_url_stored_before_the_rule_is_never_followed(app, client, alice, restricted):
    from sqlalchemy import update

    from app.storage.models import TABLES

    c = alice.customer
    alice.patch(f"/customers/{c}/roles/reg", {"accessProfile": "login"})
    roles = TABLES["Role"]
    with app.extensions["dlcs.engine"].begin() as conn:
        conn.execute(
            update(roles)
            .where(roles.c.customer == c, roles.c.role == "reg")
            .values(signInUrl="javascript:alert(1)")
        )
    r = fresh(client).get(f"/auth/v2/access/{c}/reg")
    assert r.status_code == 404 and "Location" not in r.headers


def test_info_json_declares_the_auth_services(client, alice, restricted):
    c = alice.customer
    doc = fresh(client).get(f"{restricted}/info.json").json
    assert doc["@context"] == [
        "http://iiif.io/api/auth/2/context.json",
        "http://iiif.io/api/image/3/context.json",
    ]
    (probe,) = doc["service"]
    assert probe == {
        "id": f"http://localhost/auth/v2/probe/{c}/1/r",
        "type": "AuthProbeService2",
        "service": [
            {
                "id": f"http://localhost/auth/v2/access/{c}/reg",
                "type": "AuthAccessService2",
                "profile": "active",
                "label": {"en": ["Registered"]},
                "heading": {"en": ["Registered readers"]},
                "note": {"en": ["Agree to the terms."]},
                "confirmLabel": {"en": ["I agree"]},
                "service": [
                    {
                        "id": f"http://localhost/auth/v2/token/{c}",
                        "type": "AuthAccessTokenService2",
                    },
                    {
                        "id": f"http://localhost/auth/v2/logout/{c}",
                        "type": "AuthLogoutService2",
                        "label": {"en": ["Log out"]},
                    },
                ],
            }
        ],
    }
    thumbs = fresh(client).get(f"/thumbs/{c}/1/r/info.json").json
    assert thumbs["service"] == doc["service"]
    assert "service" not in fresh(client).get(f"/iiif-img/v2/{c}/1/r/info.json").json


@pytest.mark.parametrize("app_config", [{"AUTH_COOKIE_SECURE": False}])
def test_cookies_for_plain_http_when_configured(client, alice, restricted):
    r = fresh(client).post(f"/auth/v2/access/{alice.customer}/reg")
    cookie = SimpleCookie(r.headers["Set-Cookie"])[cookie_name(alice.customer)]
    assert cookie["samesite"] == "Lax" and not cookie["secure"] and cookie["httponly"]
