"""Collections: paging, filters, ordering, views a client can follow, and bad parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlparse

import pytest

from tests.conftest import BASE


def images(api, space: int = 1) -> str:
    return f"/customers/{api.customer}/spaces/{space}/images"


def path_of(iri: str) -> str:
    parsed = urlparse(iri)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


@pytest.fixture
def seeded(alice):
    """Seven images: img0..img6 with number1 = i, string1 even/odd, tags on some."""
    for i in range(7):
        body = {
            "number1": i,
            "string1": "even" if i % 2 == 0 else "odd",
            "tags": ["all"] + (["three"] if i % 3 == 0 else []),
            "family": "T" if i == 6 else "I",
        }
        assert alice.put(f"{images(alice)}/img{i}", body).status_code == 201
    return alice


def test_collection_shape(seeded):
    r = seeded.get(images(seeded))
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["@type"] == "Collection"
    assert doc["@id"] == BASE + images(seeded)
    assert doc["totalItems"] == 7
    assert len(doc["member"]) == 7
    assert all(m["@type"] == "Image" and m["@id"].startswith(BASE) for m in doc["member"])
    assert doc["view"]["@type"] == "PartialCollectionView"
    assert doc["view"]["@id"] != doc["@id"]
    assert "next" not in doc["view"] and "previous" not in doc["view"]
    expanded = seeded.ld.expand(doc)[0]
    assert expanded["@type"] == ["http://www.w3.org/ns/hydra/core#Collection"]


def test_default_order_is_creation(seeded):
    doc = seeded.get(images(seeded)).get_json()
    assert [m["@id"].rsplit("/", 1)[1] for m in doc["member"]] == [f"img{i}" for i in range(7)]


def test_follow_next_to_the_end(seeded):
    seen, url, pages = [], images(seeded) + "?pageSize=3", 0
    while url:
        r = seeded.get(url)
        doc = r.get_json()
        assert doc["view"]["@id"] == BASE + url or "page=" not in url
        assert doc["totalItems"] == 7
        seen += [m["@id"] for m in doc["member"]]
        nxt = doc["view"].get("next")
        url = path_of(nxt) if nxt else None
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7


def test_view_id_is_the_exact_request_url(seeded):
    url = images(seeded) + "?pageSize=2&page=2"
    doc = seeded.get(url).get_json()
    view = doc["view"]
    assert view["@id"] == BASE + url
    assert doc["@id"] == BASE + images(seeded)
    previous = dict(parse_qsl(urlparse(view["previous"]).query))
    assert (previous["pageSize"], previous["page"]) == ("2", "1") and "before" in previous
    following = dict(parse_qsl(urlparse(view["next"]).query))
    assert (following["pageSize"], following["page"]) == ("2", "3") and "after" in following
    assert dict(parse_qsl(urlparse(view["last"]).query)) == {"pageSize": "2", "page": "4"}
    assert dict(parse_qsl(urlparse(view["first"]).query)) == {"pageSize": "2", "page": "1"}


def test_filtered_collection_keeps_its_filter_in_links(seeded):
    doc = seeded.get(images(seeded) + "?string1=odd&pageSize=1").get_json()
    assert doc["@id"] == BASE + images(seeded) + "?string1=odd"
    assert doc["totalItems"] == 3
    assert "string1=odd" in doc["view"]["next"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("string1=even", [0, 2, 4, 6]),
        ("number1=3", [3]),
        ("number1=3&string1=even", []),
        ("tags=three", [0, 3, 6]),
        ("tags=three,all", [0, 3, 6]),
        ("tags=three&tags=all", [0, 3, 6]),
        ("tags=nothing", []),
        ("family=T", [6]),
        ('q={"string1": "odd", "number1": 5}', [5]),
        ('q={"tags": ["three"]}', [0, 3, 6]),
        ("orderByDescending=number1&pageSize=3", [6, 5, 4]),
        ("orderBy=string1", [0, 2, 4, 6, 1, 3, 5]),
        ("ingesting=false&pageSize=2", [0, 1]),
    ],
)
def test_filters_and_ordering(seeded, query, expected):
    doc = seeded.get(images(seeded) + "?" + query).get_json()
    assert [int(m["@id"].rsplit("img", 1)[1]) for m in doc["member"]] == expected


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=-1", "page"),
        ("pageSize=0", "pageSize"),
        ("pageSize=501", "pageSize"),
        ("pageSize=ten", "pageSize"),
        ("orderBy=secret", "orderBy"),
        ("orderByDescending=origin%3B%20drop", "orderByDescending"),
        ("orderBy=number1&orderByDescending=number2", "orderBy"),
        ("number1=abc", "number1"),
        ("number1=-4", "number1"),
        ("ingesting=maybe", "ingesting"),
        ("family=Z", "family"),
        ("q=notjson", "q"),
        ("q=[1]", "q"),
        ('q={"width": 3}', "q.width"),
        ('q={"number1": "3"}', "q.number1"),
    ],
)
def test_bad_parameters_are_400(seeded, query, param):
    r = seeded.get(images(seeded) + "?" + query)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["violations"][0]["propertyPath"] == param


def test_page_past_the_end_is_empty(seeded):
    doc = seeded.get(images(seeded) + "?page=9").get_json()
    assert doc["member"] == []
    assert doc["totalItems"] == 7


def test_search_template_names_the_filters(seeded):
    search = seeded.get(images(seeded)).get_json()["search"]
    assert search["@type"] == "IriTemplate"
    assert search["template"].startswith(BASE + images(seeded) + "{?")
    variables = [m["variable"] for m in search["mapping"]]
    for name in ("string1", "number1", "tags", "family", "page", "pageSize", "orderBy", "q"):
        assert name in variables
    assert search["template"].endswith("{?" + ",".join(variables) + "}")
    string1 = next(m for m in search["mapping"] if m["variable"] == "string1")
    assert string1["property"] == "string1" and string1["required"] is False


def test_empty_collection(alice):
    doc = alice.get(images(alice)).get_json()
    assert doc["totalItems"] == 0 and doc["member"] == []
    assert "page=1" in doc["view"]["last"]


def test_images_of_a_missing_space_is_404(alice):
    assert alice.get(images(alice, 42)).status_code == 404


def test_all_images_lists_every_space(seeded):
    c = seeded.customer
    seeded.put(f"/customers/{c}/spaces/2", {"name": "two"})
    seeded.put(f"/customers/{c}/spaces/2/images/other", {})
    doc = seeded.get(f"/customers/{c}/allImages").get_json()
    assert doc["totalItems"] == 8
    assert doc["@id"] == f"{BASE}/customers/{c}/allImages"


def test_members_carry_their_multi_valued_properties(seeded):
    doc = seeded.get(images(seeded) + "?number1=3").get_json()
    assert doc["member"][0]["tags"] == ["all", "three"]


def test_every_link_of_a_collection_dereferences(seeded):
    doc = seeded.get(images(seeded) + "?pageSize=2&page=2").get_json()
    for key in ("first", "previous", "next", "last"):
        assert seeded.get(path_of(doc["view"][key])).status_code == 200
    for member in doc["member"]:
        assert seeded.get(path_of(member["@id"])).status_code == 200


def ids(doc) -> list[str]:
    return [m["@id"].rsplit("/", 1)[1] for m in doc["member"]]


@pytest.mark.parametrize("order", ["", "&orderBy=number1", "&orderByDescending=string1"])
def test_cursors_walk_forwards_and_back_to_the_same_pages(seeded, order):
    url, forwards = images(seeded) + "?pageSize=2" + order, []
    while url:
        doc = seeded.get(url).get_json()
        forwards.append(ids(doc))
        url = path_of(doc["view"]["next"]) if "next" in doc["view"] else None
    assert len(forwards) == 4 and sum(len(p) for p in forwards) == 7
    backwards, url = [], path_of(doc["view"]["last"])
    while url:
        doc = seeded.get(url).get_json()
        backwards.append(ids(doc))
        url = path_of(doc["view"]["previous"]) if "previous" in doc["view"] else None
    assert backwards[::-1] == forwards


@pytest.mark.parametrize("page", [1, 2, 3, 4])
def test_page_numbers_alone_give_the_same_pages_as_cursors(seeded, page):
    direct = ids(seeded.get(images(seeded) + f"?pageSize=2&page={page}").get_json())
    url = images(seeded) + "?pageSize=2"
    for _ in range(page - 1):
        url = path_of(seeded.get(url).get_json()["view"]["next"])
    assert ids(seeded.get(url).get_json()) == direct


def test_cursors_survive_nullable_order_columns(seeded, origin):
    seeded.put(images(seeded) + "/measured", {"origin": origin.url("small.jpg")})
    url, seen = images(seeded) + "?pageSize=3&orderBy=width", []
    while url:
        doc = seeded.get(url).get_json()
        seen += ids(doc)
        url = path_of(doc["view"]["next"]) if "next" in doc["view"] else None
    assert len(seen) == len(set(seen)) == 8
    assert seen[-1] == "measured"  # no width sorts first, as on every database


@pytest.mark.parametrize(
    "query",
    ["after=nonsense", "before=%%%", "after=WzFd", "after=WyJ4IiwgMV0", "after=a&before=b"],
)
def test_bad_cursors_are_400(seeded, query):
    assert seeded.get(images(seeded) + "?" + query).status_code == 400


def test_kept_counts_follow_every_create_and_delete(seeded):
    c = seeded.customer
    assert seeded.get(images(seeded)).get_json()["totalItems"] == 7
    seeded.put(f"/customers/{c}/spaces/2", {"name": "two"})
    seeded.put(f"/customers/{c}/spaces/2/images/x", {})
    seeded.delete(images(seeded) + "/img0")
    seeded.put(images(seeded) + "/img1", {"string1": "replaced, not added"})
    assert seeded.get(images(seeded)).get_json()["totalItems"] == 6
    assert seeded.get(f"/customers/{c}/allImages").get_json()["totalItems"] == 7
    assert seeded.get(images(seeded) + "?string1=even").get_json()["totalItems"] == 3
