"""Authentication and tenancy: every customer-scoped endpoint, tried with the wrong key."""

from __future__ import annotations

import re

import pytest

from tests.conftest import basic

CUSTOMER_RULES = "customer"


def customer_urls(app, alice) -> list[tuple[str, str]]:
    """Every (method, URL) of the API under /customers/{c}, filled for alice's resources.

    (The IIIF delivery routes name a customer too; what they answer is the access issue's.)
    """
    values = {
        "customer": alice.customer,
        "space": 1,
        "image": "a",
        "role": "reg",
        "key": "k",
        "batch": 1,
        "namedQuery": "q",
    }
    found = []
    for rule in app.url_map.iter_rules():
        if "customer" not in rule.arguments or not rule.rule.startswith("/customers/"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


@pytest.fixture
def secret_image(alice):
    c = alice.customer
    alice.put(f"/customers/{c}/spaces/1/images/a", {"string1": "alice-secret-value"})
    return alice


def test_there_are_customer_endpoints_to_check(app, alice):
    methods = {m for m, _ in customer_urls(app, alice)}
    assert {"GET", "PUT", "PATCH", "DELETE", "POST"} <= methods
    assert len(customer_urls(app, alice)) >= 20


def test_other_customers_key_gets_401_everywhere_and_changes_nothing(app, secret_image, bob):
    c = secret_image.customer
    before = secret_image.get(f"/customers/{c}/spaces/1/images/a").get_json()
    for method, url in customer_urls(app, secret_image):
        r = bob.request(method, url, {"name": "x"} if method in ("PUT", "PATCH", "POST") else None)
        assert r.status_code == 401, (method, url)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="DLCS-API"'
        assert b"alice" not in r.data
        assert r.get_json()["@type"] == "Error"
    assert secret_image.get(f"/customers/{c}/spaces/1/images/a").get_json() == before
    assert secret_image.get(f"/customers/{c}/spaces/1").get_json()["name"] == "main"


def test_no_credentials_get_401_everywhere(app, secret_image, anon):
    for method, url in customer_urls(app, secret_image):
        r = anon.request(method, url)
        assert r.status_code == 401, (method, url)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="DLCS-API"'


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer abc"},
        basic("nokey", "nosecret"),
    ],
)
def test_bad_credentials_are_401(secret_image, anon, headers):
    r = anon.get(f"/customers/{secret_image.customer}", headers=headers)
    assert r.status_code == 401


def test_wrong_secret_is_401(runner, secret_image, anon):
    key_doc = secret_image.post(f"/customers/{secret_image.customer}/keys").get_json()
    good = basic(key_doc["key"], key_doc["secret"])
    assert anon.get(f"/customers/{secret_image.customer}", headers=good).status_code == 200
    # The key was just found good: a wrong secret with it is still checked, and refused.
    r = anon.get(f"/customers/{secret_image.customer}", headers=basic(key_doc["key"], "wrong"))
    assert r.status_code == 401
    assert anon.get(f"/customers/{secret_image.customer}", headers=good).status_code == 200


def test_admin_key_acts_on_every_customer(admin, secret_image):
    c = secret_image.customer
    assert admin.get(f"/customers/{c}/spaces/1/images/a").status_code == 200
    assert (
        admin.patch(f"/customers/{c}/spaces/1/images/a", {"string2": "by admin"}).status_code == 200
    )


def test_customer_list_needs_credentials(anon):
    assert anon.get("/customers").status_code == 401


def test_anonymous_resources(anon):
    for url in (
        "/",
        "/vocab",
        "/contexts/Image.jsonld",
        "/thumbnailpolicies",
        "/imageoptimisationpolicies",
    ):
        assert anon.get(url).status_code == 200, url
