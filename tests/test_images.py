"""The Image resource: GET, PUT (create or replace), PATCH, DELETE, as DECISIONS.md says."""

from __future__ import annotations

import datetime as dt

import pytest
import rdflib
from rdflib import Literal, URIRef

from tests.conftest import BASE


def url(api, image: str = "img", space: int = 1) -> str:
    return f"/customers/{api.customer}/spaces/{space}/images/{image}"


def role(api, name: str = "reg") -> str:
    return f"{BASE}/customers/{api.customer}/roles/{name}"


def test_put_creates_with_defaults_and_location(alice):
    r = alice.put(url(alice), {"string1": "s"})
    assert r.status_code == 201
    doc = r.get_json()
    assert r.headers["Location"] == doc["@id"] == BASE + url(alice)
    assert doc["@type"] == "Image"
    assert doc["@context"] == f"{BASE}/contexts/Image.jsonld"
    expected = {
        "origin": "",
        "maxUnauthorised": -1,
        "family": "I",
        "string1": "s",
        "string2": "",
        "string3": "",
        "number1": 0,
        "number2": 0,
        "number3": 0,
        "tags": [],
        "roles": [],
        "duration": 0,
        "ingesting": False,
        "error": "",
    }
    assert {k: doc[k] for k in expected} == expected
    created = dt.datetime.fromisoformat(doc["created"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=1)
    for absent in ("finished", "batch", "width", "height", "initialOrigin", "thumbnailPolicy"):
        assert absent not in doc


def test_get_returns_what_put_stored(alice):
    put = alice.put(url(alice), {"string1": "x", "tags": ["a", "b"], "number2": 7}).get_json()
    r = alice.get(url(alice))
    assert r.status_code == 200
    assert r.get_json() == put


def test_get_of_a_missing_image_is_404(alice):
    r = alice.get(url(alice, "missing"))
    assert r.status_code == 404
    assert r.get_json()["@type"] == "Error"


def test_put_replaces_and_resets_omitted_properties(alice):
    alice.put(url(alice), {"string1": "a", "tags": ["t"], "number1": 5, "roles": [role(alice)]})
    r = alice.put(url(alice), {"string2": "b"})
    assert r.status_code == 200
    doc = r.get_json()
    assert (doc["string1"], doc["string2"], doc["tags"], doc["number1"], doc["roles"]) == (
        "",
        "b",
        [],
        0,
        [],
    )
    assert "Location" not in r.headers


def test_put_keeps_created(alice):
    first = alice.put(url(alice), {}).get_json()
    second = alice.put(url(alice), {"string1": "again"}).get_json()
    assert second["created"] == first["created"]


def test_get_body_can_be_put_back_unchanged(alice):
    alice.put(url(alice), {"string2": "x", "tags": ["k"], "roles": [role(alice)]})
    doc = alice.get(url(alice)).get_json()
    r = alice.put(url(alice), doc)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == doc
    r = alice.patch(url(alice), doc)
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("width", 100),
        ("height", 5),
        ("ingesting", True),
        ("finished", "2020-01-01T00:00:00+00:00"),
        ("batch", 3),
        ("created", "2001-01-01T00:00:00+00:00"),
        ("thumbnailPolicy", f"{BASE}/thumbnailpolicies/default"),
    ],
)
def test_changed_read_only_value_is_rejected_and_nothing_changes(alice, prop, value):
    before = alice.put(url(alice), {"string1": "keep"}).get_json()
    for method in (alice.put, alice.patch):
        r = method(url(alice), {"string1": "changed", prop: value})
        assert r.status_code == 400
        violations = r.get_json()["violations"]
        assert [v["propertyPath"] for v in violations] == [prop]
        assert "read-only" in violations[0]["message"]
    assert alice.get(url(alice)).get_json() == before


def test_read_only_created_is_compared_as_an_instant(alice):
    doc = alice.put(url(alice), {}).get_json()
    same = dt.datetime.fromisoformat(doc["created"]).astimezone(dt.timezone(dt.timedelta(hours=2)))
    r = alice.patch(url(alice), {"created": same.isoformat()})
    assert r.status_code == 200


def test_initial_origin_is_accepted_and_never_returned(alice):
    r = alice.put(url(alice), {"origin": "https://e.org/a", "initialOrigin": "https://e.org/b"})
    assert r.status_code == 201
    assert "initialOrigin" not in r.get_json()
    assert "initialOrigin" not in alice.get(url(alice)).get_json()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"orign": "x"}, "orign"),
        ({"number1": -1}, "number1"),
        ({"number1": "5"}, "number1"),
        ({"number1": 1.5}, "number1"),
        ({"number2": True}, "number2"),
        ({"maxUnauthorised": "big"}, "maxUnauthorised"),
        ({"duration": -3}, "duration"),
        ({"family": "X"}, "family"),
        ({"string1": 12}, "string1"),
        ({"string1": None}, "string1"),
        ({"string3": "nul\u0000"}, "string3"),
        ({"tags": "a"}, "tags"),
        ({"tags": ["a", 1]}, "tags[1]"),
        ({"roles": ["not a link"]}, "roles[0]"),
        ({"roles": "x"}, "roles"),
        ({"number3": 2**63}, "number3"),
        ({"@type": "Space"}, "@type"),
        ({"@id": "http://elsewhere/x"}, "@id"),
        ({"@context": "http://elsewhere/context.jsonld"}, "@context"),
    ],
)
def test_invalid_body_is_400_naming_the_property_and_changes_nothing(alice, body, path):
    before = alice.put(url(alice), {"string1": "kept", "tags": ["t"]}).get_json()
    for method in (alice.put, alice.patch):
        r = method(url(alice), body)
        assert r.status_code == 400, r.get_json()
        error = r.get_json()
        assert error["status"] == error["statusCode"] == 400
        assert path in [v["propertyPath"] for v in error["violations"]]
        assert path in error["description"]
    assert alice.get(url(alice)).get_json() == before


def test_several_faults_are_reported_together(alice):
    r = alice.put(url(alice), {"orign": 1, "number1": -1, "width": 3})
    paths = sorted(v["propertyPath"] for v in r.get_json()["violations"])
    assert paths == ["number1", "orign", "width"]


def test_invalid_put_creates_nothing(alice):
    r = alice.put(url(alice, "new"), {"number1": -5})
    assert r.status_code == 400
    assert alice.get(url(alice, "new")).status_code == 404


def test_roles_must_be_roles_of_the_same_customer(alice, bob):
    bob.put(f"/customers/{bob.customer}/roles/reg", {})
    for bad in (
        role(bob),
        role(alice, "unknown"),
        "https://elsewhere.example/customers/1/roles/reg",
    ):
        r = alice.put(url(alice), {"roles": [bad]})
        assert r.status_code == 400, bad
        assert r.get_json()["violations"][0]["propertyPath"] == "roles[0]"
    assert alice.get(url(alice)).status_code == 404


def test_roles_are_links_that_dereference(alice):
    doc = alice.put(url(alice), {"roles": [role(alice)]}).get_json()
    assert doc["roles"] == [role(alice)]
    r = alice.get(doc["roles"][0].removeprefix(BASE))
    assert r.status_code == 200
    assert r.get_json()["label"] == "Registered"
    graph = alice.ld.graph(doc)
    assert (
        URIRef(doc["@id"]),
        URIRef(f"{BASE}/vocab#Image/roles"),
        URIRef(role(alice)),
    ) in graph


def test_typed_literals_in_the_graph(alice):
    doc = alice.put(url(alice), {"number1": 3, "maxUnauthorised": 400}).get_json()
    graph = alice.ld.graph(doc)
    subject = URIRef(doc["@id"])
    number1 = graph.value(subject, URIRef(f"{BASE}/vocab#Image/number1"))
    assert number1 == Literal(3, datatype=rdflib.XSD.nonNegativeInteger)
    created = graph.value(subject, URIRef(f"{BASE}/vocab#Image/created"))
    assert created.datatype == rdflib.XSD.dateTime


def test_patch_changes_only_what_it_carries(alice):
    alice.put(url(alice), {"string1": "a", "tags": ["t1", "t2"], "roles": [role(alice)]})
    r = alice.patch(url(alice), {"string2": "b"})
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["string1"] == "a" and doc["string2"] == "b"
    assert doc["tags"] == ["t1", "t2"]
    assert doc["roles"] == [role(alice)]


def test_patch_can_clear_tags(alice):
    alice.put(url(alice), {"tags": ["t1"]})
    assert alice.patch(url(alice), {"tags": []}).get_json()["tags"] == []


def test_patch_of_a_missing_image_is_404(alice):
    assert alice.patch(url(alice, "nope"), {"string1": "x"}).status_code == 404


def test_put_into_a_missing_space_is_404(alice):
    r = alice.put(url(alice, space=99), {})
    assert r.status_code == 404
    assert "Space" in r.get_json()["description"]


def test_delete_is_205_with_no_body(alice):
    alice.put(url(alice), {})
    r = alice.delete(url(alice))
    assert r.status_code == 205
    assert r.data == b""
    assert alice.get(url(alice)).status_code == 404
    assert alice.delete(url(alice)).status_code == 404


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", "{}", 415),
        ("application/x-www-form-urlencoded", "a=b", 415),
        ("application/json", "{not json", 400),
        ("application/json", "[1, 2]", 400),
        ("application/json", "", 400),
    ],
)
def test_body_must_be_a_json_object(alice, content_type, body, status):
    r = alice.put(url(alice), body, headers={"Content-Type": content_type})
    assert r.status_code == status
    assert r.get_json()["@type"] == "Error"
    assert alice.get(url(alice)).status_code == 404


def test_compact_body_with_our_context_and_type_is_accepted(alice):
    body = {
        "@context": f"{BASE}/contexts/Image.jsonld",
        "@type": "Image",
        "@id": BASE + url(alice),
        "string1": "ld",
    }
    r = alice.put(url(alice), body)
    assert r.status_code == 201
    assert r.get_json()["string1"] == "ld"


def test_space_defaults_apply_to_new_images(alice):
    c = alice.customer
    alice.put(
        f"/customers/{c}/spaces/2",
        {
            "name": "defaults",
            "defaultTags": ["d"],
            "defaultRoles": [role(alice)],
            "maxUnauthorised": 200,
        },
    )
    doc = alice.put(url(alice, space=2), {}).get_json()
    assert (doc["tags"], doc["roles"], doc["maxUnauthorised"]) == (["d"], [role(alice)], 200)
    doc = alice.put(url(alice, "other", space=2), {"tags": []}).get_json()
    assert doc["tags"] == []


def test_a_replacing_put_falls_back_to_the_space_defaults_of_now(alice):
    c = alice.customer
    alice.put(f"/customers/{c}/spaces/2", {"name": "defaults", "maxUnauthorised": 200})
    body = {"tags": ["mine"], "roles": [role(alice)], "maxUnauthorised": 5, "string1": "s"}
    assert alice.put(url(alice, space=2), body).status_code == 201
    # The space's defaults change after the image was made; a PUT leaving them out takes
    # them as they are now, in their order, and leaves what it says alone.
    alice.patch(
        f"/customers/{c}/spaces/2",
        {"defaultTags": ["z", "a", "m"], "defaultRoles": [role(alice)], "maxUnauthorised": 7},
    )
    r = alice.put(url(alice, space=2), {"string1": "t"})
    assert r.status_code == 200
    doc = r.get_json()
    assert (doc["tags"], doc["roles"], doc["maxUnauthorised"]) == (
        ["z", "a", "m"],
        [role(alice)],
        7,
    )
    assert doc == alice.get(url(alice, space=2)).get_json()
    # A space without default tags or roles: the replacement has none.
    alice.patch(f"/customers/{c}/spaces/2", {"defaultTags": [], "defaultRoles": []})
    doc = alice.put(url(alice, space=2), {"string1": "u", "tags": ["kept"]}).get_json()
    assert (doc["tags"], doc["roles"], doc["maxUnauthorised"]) == (["kept"], [], 7)
    assert doc["string1"] == "u"


def test_long_image_id_is_rejected(alice):
    assert alice.put(url(alice, "x" * 300), {}).status_code == 400


def test_image_ids_with_reserved_characters_round_trip(alice):
    r = alice.put(url(alice, "a%20b.jpg"), {})
    assert r.status_code == 201
    assert r.get_json()["@id"] == BASE + url(alice, "a%20b.jpg")
    assert alice.get(url(alice, "a%20b.jpg")).status_code == 200
