"""The resources around the Image: spaces, roles, customers, keys, policies."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.conftest import BASE, basic


def path(iri: str) -> str:
    return urlparse(iri).path


# -- spaces ----------------------------------------------------------------------------------


def test_post_space_assigns_the_next_number(alice):
    c = alice.customer
    r = alice.post(f"/customers/{c}/spaces", {"name": "second"})
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["id"] == 2
    assert r.headers["Location"] == doc["@id"] == f"{BASE}/customers/{c}/spaces/2"
    assert doc["images"] == f"{BASE}/customers/{c}/spaces/2/images"
    assert alice.post(f"/customers/{c}/spaces", {"name": "third"}).get_json()["id"] == 3


def test_space_needs_a_name(alice):
    r = alice.post(f"/customers/{alice.customer}/spaces", {})
    assert r.status_code == 400
    assert r.get_json()["violations"] == [{"propertyPath": "name", "message": "is required"}]


def test_space_patch_and_get(alice):
    c = alice.customer
    r = alice.patch(f"/customers/{c}/spaces/1", {"defaultTags": ["x"], "maxUnauthorised": 10})
    assert r.status_code == 200
    doc = alice.get(f"/customers/{c}/spaces/1").get_json()
    assert (doc["name"], doc["defaultTags"], doc["maxUnauthorised"]) == ("main", ["x"], 10)


def test_space_id_may_be_sent_back_unchanged(alice):
    c = alice.customer
    doc = alice.get(f"/customers/{c}/spaces/1").get_json()
    assert alice.put(f"/customers/{c}/spaces/1", doc).status_code == 200
    assert alice.patch(f"/customers/{c}/spaces/1", {"id": 5}).status_code == 400


def test_deleting_a_space_with_images_is_409(alice):
    c = alice.customer
    alice.put(f"/customers/{c}/spaces/1/images/a", {})
    r = alice.delete(f"/customers/{c}/spaces/1")
    assert r.status_code == 409
    assert alice.get(f"/customers/{c}/spaces/1/images/a").status_code == 200
    alice.delete(f"/customers/{c}/spaces/1/images/a")
    assert alice.delete(f"/customers/{c}/spaces/1").status_code == 204
    assert alice.get(f"/customers/{c}/spaces/1").status_code == 404


def test_spaces_collection(alice):
    c = alice.customer
    alice.post(f"/customers/{c}/spaces", {"name": "b"})
    doc = alice.get(f"/customers/{c}/spaces").get_json()
    assert doc["totalItems"] == 2
    assert [m["name"] for m in doc["member"]] == ["main", "b"]


def test_space_default_roles_must_exist(alice):
    c = alice.customer
    r = alice.patch(
        f"/customers/{c}/spaces/1", {"defaultRoles": [f"{BASE}/customers/{c}/roles/no"]}
    )
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == "defaultRoles[0]"


# -- roles -----------------------------------------------------------------------------------


def test_role_put_get_patch(alice):
    c = alice.customer
    r = alice.put(f"/customers/{c}/roles/clickthrough", {"name": "ct", "aliases": ["a", "b"]})
    assert r.status_code == 201
    r = alice.patch(f"/customers/{c}/roles/clickthrough", {"label": "Click through"})
    doc = r.get_json()
    assert (doc["name"], doc["label"], doc["aliases"]) == ("ct", "Click through", ["a", "b"])


def test_a_roles_name_is_its_key_unless_one_is_given(alice):
    c = alice.customer
    doc = alice.put(f"/customers/{c}/roles/readers", {"label": "Readers"}).get_json()
    assert (doc["name"], doc["label"]) == ("readers", "Readers")
    doc = alice.put(f"/customers/{c}/roles/readers", {"name": "Our readers"}).get_json()
    assert doc["name"] == "Our readers"
    doc = alice.put(f"/customers/{c}/roles/readers", {"label": "Again"}).get_json()
    assert doc["name"] == "readers"  # (a replace leaves it out: the key again)
    doc = alice.patch(f"/customers/{c}/roles/readers", {"name": ""}).get_json()
    assert doc["name"] == ""  # (asked for)


def test_role_in_use_cannot_be_deleted(alice):
    c = alice.customer
    role = f"{BASE}/customers/{c}/roles/reg"
    alice.put(f"/customers/{c}/spaces/1/images/a", {"roles": [role]})
    r = alice.delete(f"/customers/{c}/roles/reg")
    assert r.status_code == 409
    assert "roles of Image" in r.get_json()["description"]
    alice.patch(f"/customers/{c}/spaces/1/images/a", {"roles": []})
    alice.patch(f"/customers/{c}/spaces/1", {"defaultRoles": [role]})
    assert alice.delete(f"/customers/{c}/roles/reg").status_code == 409
    alice.patch(f"/customers/{c}/spaces/1", {"defaultRoles": []})
    assert alice.delete(f"/customers/{c}/roles/reg").status_code == 204


def test_roles_collection(alice):
    doc = alice.get(f"/customers/{alice.customer}/roles").get_json()
    assert [m["@id"] for m in doc["member"]] == [f"{BASE}/customers/{alice.customer}/roles/reg"]


# -- customers ---------------------------------------------------------------------------------


def test_customer_has_links_that_dereference(alice):
    c = alice.customer
    doc = alice.get(f"/customers/{c}").get_json()
    assert doc["name"] == "alice"
    for link in ("spaces", "allImages", "roles", "keys"):
        assert doc[link].startswith(f"{BASE}/customers/{c}/")
        assert alice.get(path(doc[link])).status_code == 200


def test_admin_creates_and_lists_customers(admin, alice):
    r = admin.post("/customers", {"name": "carol", "displayName": "Carol"})
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["displayName"] == "Carol" and doc["administrator"] is False
    listed = admin.get("/customers").get_json()
    assert {m["name"] for m in listed["member"]} == {"admin", "alice", "carol"}


def test_duplicate_customer_name_is_409(admin):
    admin.post("/customers", {"name": "dup"})
    assert admin.post("/customers", {"name": "dup"}).status_code == 409


def test_customer_sees_only_itself_in_the_list(alice, bob):
    listed = alice.get("/customers").get_json()
    assert [m["name"] for m in listed["member"]] == ["alice"]


def test_only_admins_create_or_change_customers(alice):
    assert alice.post("/customers", {"name": "eve"}).status_code == 403
    r = alice.patch(f"/customers/{alice.customer}", {"administrator": True})
    assert r.status_code == 403
    assert alice.get(f"/customers/{alice.customer}").get_json()["administrator"] is False


def test_admin_deletes_a_customer_once_its_spaces_are_gone(admin, alice):
    c = alice.customer
    assert admin.delete(f"/customers/{c}").status_code == 409
    admin.delete(f"/customers/{c}/spaces/1")
    assert admin.delete(f"/customers/{c}").status_code == 204
    assert admin.get(f"/customers/{c}").status_code == 404


# -- keys --------------------------------------------------------------------------------------


def test_new_key_works_and_its_secret_is_shown_once(alice):
    c = alice.customer
    r = alice.post(f"/customers/{c}/keys")
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["secret"] and doc["key"]
    new = alice.as_(basic(doc["key"], doc["secret"]))
    assert new.get(f"/customers/{c}").status_code == 200
    again = alice.get(path(doc["@id"])).get_json()
    assert "secret" not in again and again["key"] == doc["key"]
    listed = alice.get(f"/customers/{c}/keys").get_json()
    assert all("secret" not in m for m in listed["member"])
    assert doc["key"] in {m["key"] for m in listed["member"]}


def test_secret_is_stored_only_as_a_hash(alice, app):
    from sqlalchemy import select

    from app.storage.models import TABLES

    doc = alice.post(f"/customers/{alice.customer}/keys").get_json()
    with app.extensions["dlcs.engine"].connect() as conn:
        rows = conn.execute(select(TABLES["Key"])).mappings().all()
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert doc["secret"] not in stored


def test_deleted_key_no_longer_authenticates(alice):
    c = alice.customer
    doc = alice.post(f"/customers/{c}/keys").get_json()
    new = alice.as_(basic(doc["key"], doc["secret"]))
    assert new.get(f"/customers/{c}").status_code == 200  # now known to this process
    assert alice.delete(path(doc["@id"])).status_code == 204
    assert new.get(f"/customers/{c}").status_code == 401


# -- policies ----------------------------------------------------------------------------------


def test_policies_are_seeded_and_anonymous(anon):
    doc = anon.get("/thumbnailpolicies/default").get_json()
    assert doc["sizes"] == [1024, 400, 200, 100]
    doc = anon.get("/imageoptimisationpolicies/fast-higher").get_json()
    assert doc["name"] and doc["technicalDetails"]
    listed = anon.get("/imageoptimisationpolicies").get_json()
    assert listed["totalItems"] >= 1
    assert anon.get("/thumbnailpolicies").get_json()["totalItems"] == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_policies_are_read_only(admin, method):
    assert admin.request(method, "/thumbnailpolicies/default", {}).status_code == 405


def test_image_policy_links_dereference_when_set(alice, app):
    from sqlalchemy import update

    from app.storage.models import TABLES

    c = alice.customer
    alice.put(f"/customers/{c}/spaces/1/images/a", {})
    with app.extensions["dlcs.engine"].begin() as conn:
        conn.execute(
            update(TABLES["Image"]).values(
                imageOptimisationPolicy="fast-higher", thumbnailPolicy="default"
            )
        )
    doc = alice.get(f"/customers/{c}/spaces/1/images/a").get_json()
    assert doc["thumbnailPolicy"] == f"{BASE}/thumbnailpolicies/default"
    for link in ("thumbnailPolicy", "imageOptimisationPolicy"):
        assert alice.get(path(doc[link])).status_code == 200
