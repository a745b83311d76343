"""Hostile or odd input: always a clear 4xx, never a 500, on every database."""

from __future__ import annotations

import base64

import pytest

from app.storage.db import dispose as dispose_app
from tests.conftest import BASE


@pytest.mark.parametrize("image", ["nul%00byte", "tab%09", "x" * 300])
def test_unusable_image_id_is_404_to_read_and_400_to_create(alice, image):
    url = f"/customers/{alice.customer}/spaces/1/images/{image}"
    assert alice.get(url).status_code == 404
    assert alice.patch(url, {}).status_code == 404
    assert alice.delete(url).status_code == 404
    assert alice.put(url, {}).status_code == 400


@pytest.mark.parametrize(
    "query",
    ["string1=%00", "tags=a%00b", 'q={"string1": "\\u0000"}', "page=99999999999999999999"],
)
def test_unusable_filter_is_400(alice, query):
    r = alice.get(f"/customers/{alice.customer}/spaces/1/images?{query}")
    assert r.status_code == 400


def test_role_link_with_control_characters_is_400(alice):
    role = f"{BASE}/customers/{alice.customer}/roles/re%00g"
    r = alice.put(f"/customers/{alice.customer}/spaces/1/images/a", {"roles": [role]})
    assert r.status_code == 400


@pytest.mark.parametrize("user", ["nul\x00key", "ключ", "a" * 500])
def test_strange_key_names_are_401(alice, anon, user):
    token = base64.b64encode(f"{user}:secret".encode()).decode()
    r = anon.get(f"/customers/{alice.customer}", headers={"Authorization": f"Basic {token}"})
    assert r.status_code == 401


def test_oversized_body_is_413(app, alice):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = alice.put(f"/customers/{alice.customer}/spaces/1/images/a", {"string1": "x" * 5000})
    assert r.status_code == 413
    assert r.get_json()["@type"] == "Error"


def test_deeply_odd_json_values_are_400(alice):
    url = f"/customers/{alice.customer}/spaces/1/images/a"
    odd = ('{"number1": 1e400}', '{"number1": NaN}', '{"tags": [[["a"]]]}', '{"a": {"b": 1}}')
    for body in odd:
        assert alice.put(url, body).status_code == 400, body
    assert alice.get(url).status_code == 404


def test_error_instance_uses_the_public_base_url(database_url):
    from app.factory import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "AUTO_MIGRATE": False,
            "EMBEDDED_WORKER": False,
            "PUBLIC_BASE_URL": "https://api.x",
        }
    )
    doc = app.test_client().get("/nothing?a=1").get_json()
    assert doc["instance"] == "https://api.x/nothing?a=1"
    dispose_app(app)
