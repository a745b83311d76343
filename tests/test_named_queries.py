"""Named queries: templates stored and checked, and their results as IIIF Presentation 3
manifests; a single image as a manifest."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, update

from app.storage.models import TABLES
from app.storage.named_queries import TemplateError, bind, parse

MANIFEST_TYPE = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'


def registered(app, api, space: int, image: str, **values: Any) -> None:
    """Register an image with these values and record it as ingested at 400 x 300 with the
    default thumbnail policy (manifests read only its row; tests of ingest make real files)."""
    path = f"/customers/{api.customer}/spaces/{space}/images/{image}"
    assert api.put(path, values).status_code == 201
    table = TABLES["Image"]
    with app.extensions["dlcs.engine"].begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.customer == api.customer, table.c.space == space, table.c.image == image)
            .values(width=400, height=300, media_type="image/jpeg", thumbnailPolicy="default")
        )


def labels(manifest: dict[str, Any]) -> list[str]:
    """The image ids of a manifest's canvases, in order."""
    return [canvas["label"]["none"][0] for canvas in manifest["items"]]


def query(api, name: str, template: str):
    return api.put(f"/customers/{api.customer}/namedQueries/{name}", {"queryTemplate": template})


# -- templates, parsed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, conditions, order, manifest, appended",
    [
        ("manifest=s1&s1=p1&canvas=n1", {"s1": 1}, [("n1", False)], "s1", ()),
        ("space=p1&canvas=n1", {"space": 1}, [("n1", False)], None, ()),
        (
            "s1=p1&s2=p2&n1=p3&canvas=n2;n3 desc;s1+asc",
            {"s1": 1, "s2": 2, "n1": 3},
            [("n2", False), ("n3", True), ("s1", False)],
            None,
            (),
        ),
        ("assetOrder=n1 DESC&space=5", {"space": "5"}, [("n1", True)], None, ()),
        ("spacename=p1&batch=p2", {"spacename": 1, "batch": 2}, [], None, ()),
        ("batch=3,4", {"batch": "3,4"}, [], None, ()),
        ("s1=pages&s2=p", {"s1": "pages", "s2": "p"}, [], None, ()),
        ("s1=p1&#=first&#=second", {"s1": 1}, [], None, ("first", "second")),
        ("&&s3=p12&", {"s3": 12}, [], None, ()),
    ],
)
def test_a_good_template_parses(template, conditions, order, manifest, appended):
    parsed = parse(template)
    assert dict(parsed.conditions) == conditions
    assert list(parsed.order) == order
    assert parsed.manifest == manifest
    assert parsed.appended == appended


@pytest.mark.parametrize(
    "template, fault",
    [
        ("", "is empty"),
        ("&&", "is empty"),
        ("s1", "is not key=value"),
        ("s1=", "is not key=value"),
        ("=p1", "is not key=value"),
        ("s1=a=b", "is not key=value"),
        ("string1=p1", "string1 is not a key"),
        ("S1=p1", "S1 is not a key"),
        ("s1=p1&s1=p2", "s1 is given twice"),
        ("canvas=n1&assetOrder=n2", "assetOrder is given twice"),
        ("s1=p0", "numbered from p1"),
        ("n1=abc", "n1 is a whole number"),
        ("space=-1", "space is a whole number"),
        ("n2=99999999999999999999", "n2 is a whole number"),
        ("batch=1,x", "batch is whole numbers"),
        ("batch=" + ",".join(["1"] * 101), "at most 100 batches"),
        ("batch=", "is not key=value"),
        ("manifest=space", "manifest names one of"),
        ("canvas=x1", "order by one of"),
        ("canvas=n1 up", "a direction is asc or desc"),
        ("canvas=n1;n1 desc", "n1 is ordered by twice"),
        ("canvas=n1 desc extra", "order by one of"),
        ("canvas=n1;;n2", "order by one of"),
    ],
)
def test_a_bad_template_is_refused_naming_its_fault(template, fault):
    with pytest.raises(TemplateError) as caught:
        parse(template)
    assert any(fault in what for _, what in caught.value.faults), caught.value.faults


def test_every_fault_of_a_template_is_named():
    with pytest.raises(TemplateError) as caught:
        parse("foo=1&n1=x&canvas=s9")
    assert len(caught.value.faults) == 3
    assert [where for where, _ in caught.value.faults] == [
        "foo=1",
        "n1=x",
        "canvas=s9",
    ]


def test_arguments_fill_the_template_and_those_not_sent_leave_their_condition_out():
    template = parse("s1=p1&s2=p2&n1=p3&s3=fixed")
    assert bind(template, ["a", "b", "7"]).values == {
        "s1": "a",
        "s2": "b",
        "n1": "7",
        "s3": "fixed",
    }
    assert bind(template, ["a"]).values == {"s1": "a", "s3": "fixed"}
    assert bind(template, ["a", "b", "7", "extra"]).values["n1"] == "7"


def test_a_template_that_takes_arguments_needs_one_at_least():
    with pytest.raises(TemplateError) as caught:
        bind(parse("s1=p1&s2=p2"), [])
    assert caught.value.faults == [("arguments", "the query takes up to 2")]
    assert bind(parse("space=4"), []).values == {"space": "4"}


def test_an_argument_must_be_what_its_key_takes():
    with pytest.raises(TemplateError) as caught:
        bind(parse("s1=p1&n1=p2&batch=p3"), ["x", "seven", "1,b"])
    assert [where for where, _ in caught.value.faults] == ["p2 (n1)", "p3 (batch)"]


def test_appended_arguments_come_after_the_requests():
    assert bind(parse("s1=p1&#=x"), []).values == {"s1": "x"}
    assert bind(parse("s1=p1&s2=p2&#=x"), ["a"]).values == {"s1": "a", "s2": "x"}


# -- the resources ---------------------------------------------------------------------------


def test_a_named_query_is_created_read_changed_and_deleted(alice):
    c = alice.customer
    path = f"/customers/{c}/namedQueries/book"
    r = query(alice, "book", "manifest=s1&s1=p1&canvas=n1")
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["@type"] == "NamedQuery" and doc["name"] == "book"
    assert doc["queryTemplate"] == "manifest=s1&s1=p1&canvas=n1"
    assert alice.get(path).get_json()["queryTemplate"] == doc["queryTemplate"]
    r = alice.patch(path, {"queryTemplate": "s1=p1&canvas=n1 desc"})
    assert r.status_code == 200 and r.get_json()["queryTemplate"] == "s1=p1&canvas=n1 desc"
    listed = alice.get(f"/customers/{c}/namedQueries").get_json()
    assert [m["@id"] for m in listed["member"]] == [doc["@id"]]
    # (its search template and its members' queryTemplate are two terms, two IRIs)
    (expanded,) = alice.ld.expand(listed)
    (search,) = expanded["http://www.w3.org/ns/hydra/core#search"]
    assert "http://www.w3.org/ns/hydra/core#template" in search
    (member,) = expanded["http://www.w3.org/ns/hydra/core#member"]
    templates = [k for k in member if k.endswith("/template") or k.endswith("Template")]
    assert templates == ["http://localhost/vocab#NamedQuery/queryTemplate"]
    assert alice.delete(path).status_code == 204
    assert alice.get(path).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_bad_template_is_a_400_and_changes_nothing(alice, method):
    path = f"/customers/{alice.customer}/namedQueries/book"
    assert query(alice, "book", "s1=p1").status_code == 201
    r = alice.request(method, path, {"queryTemplate": "s1=p1&colour=red"})
    assert r.status_code == 400
    violations = r.get_json()["violations"]
    assert violations[0]["propertyPath"] == "queryTemplate: colour=red"
    assert "colour is not a key" in violations[0]["message"]
    assert alice.get(path).get_json()["queryTemplate"] == "s1=p1"


def test_a_bad_template_creates_nothing(alice):
    r = query(alice, "book", "n1=one")
    assert r.status_code == 400
    assert alice.get(f"/customers/{alice.customer}/namedQueries/book").status_code == 404


def test_a_named_query_needs_its_template(alice):
    r = alice.put(f"/customers/{alice.customer}/namedQueries/book", {})
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == "queryTemplate"


def test_named_queries_are_the_customers_own(alice, bob):
    assert query(alice, "book", "s1=p1").status_code == 201
    path = f"/customers/{alice.customer}/namedQueries/book"
    assert bob.get(path).status_code in (401, 403)
    assert bob.put(path, {"queryTemplate": "s1=p2"}).status_code in (401, 403)
    assert alice.get(path).get_json()["queryTemplate"] == "s1=p1"


def test_the_global_queries_are_listed_for_anyone(anon):
    listed = anon.get("/namedQueries").get_json()
    names = sorted(m["name"] for m in listed["member"])
    assert names == ["book", "space"]
    book = anon.get("/namedQueries/book").get_json()
    assert book["@type"] == "GlobalNamedQuery"
    assert book["queryTemplate"] == "manifest=s1&s1=p1&canvas=n1"
    assert anon.put("/namedQueries/book", {"queryTemplate": "s1=p1"}).status_code == 405
    assert "globalNamedQueries" in anon.get("/").get_json()


def test_the_customer_and_the_documentation_link_named_queries(alice):
    customer = alice.get(f"/customers/{alice.customer}").get_json()
    assert customer["namedQueries"].endswith(f"/customers/{alice.customer}/namedQueries")
    documented = alice.get("/vocab").get_json()
    classes = {c["@id"] for c in documented["supportedClass"]}
    assert {"vocab:NamedQuery", "vocab:GlobalNamedQuery"} <= classes


# -- results ---------------------------------------------------------------------------------


@pytest.fixture
def book(app, alice):
    """Alice's query "pages" and a book b1 of five pages, with ties, in spaces 1 and 2; an
    image of another book; images that cannot be shown."""
    c = alice.customer
    assert alice.put(f"/customers/{c}/spaces/2", {"name": "second"}).status_code == 201
    assert query(alice, "pages", "manifest=s1&s1=p1&canvas=n1").status_code == 201
    for space, image, number in [(2, "e", 1), (1, "d", 2), (1, "c", 2), (2, "a", 2), (1, "b", 3)]:
        registered(app, alice, space, image, string1="b1", number1=number, string2=f"p{number}")
    registered(app, alice, 1, "other", string1="b2", number1=1)
    # registered, never ingested; and one whose ingest failed
    alice.put(f"/customers/{c}/spaces/1/images/waiting", {"string1": "b1"})
    registered(app, alice, 1, "failed", string1="b1", number1=0)
    table = TABLES["Image"]
    with app.extensions["dlcs.engine"].begin() as conn:
        conn.execute(update(table).where(table.c.image == "failed").values(error="it broke"))
    return alice


def test_a_named_query_is_a_manifest_of_its_images_in_order(client, book):
    c = book.customer
    r = client.get(f"/iiif-resource/v3/{c}/pages/b1")
    assert r.status_code == 200, r.get_json()
    assert r.headers["Content-Type"] == MANIFEST_TYPE
    manifest = r.get_json()
    assert manifest["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert manifest["type"] == "Manifest"
    assert manifest["id"] == f"http://localhost/iiif-resource/v3/{c}/pages/b1"
    assert manifest["label"] == {"en": ["Generated from 'pages' named query: b1"]}
    # number1 first; ties by space, then id; neither the waiting nor the failed image
    assert labels(manifest) == ["e", "c", "d", "a", "b"]


def test_the_version_may_be_left_out(client, book):
    c = book.customer
    plain = client.get(f"/iiif-resource/{c}/pages/b1")
    assert plain.status_code == 200
    assert labels(plain.get_json()) == ["e", "c", "d", "a", "b"]
    assert plain.get_json()["id"] == f"http://localhost/iiif-resource/{c}/pages/b1"


def test_descending_and_several_keys_order_the_canvases(client, book):
    c = book.customer
    assert query(book, "backwards", "s1=p1&canvas=n1 desc;s2").status_code == 201
    r = client.get(f"/iiif-resource/{c}/backwards/b1")
    assert labels(r.get_json()) == ["b", "c", "d", "a", "e"]
    assert query(book, "bypage", "s1=p1&assetOrder=s2+desc;n1").status_code == 201
    r = client.get(f"/iiif-resource/{c}/bypage/b1")
    assert labels(r.get_json()) == ["b", "c", "d", "a", "e"]


def test_space_spacename_and_batch_choose_images(app, client, book):
    c = book.customer
    assert query(book, "inspace", "space=p1&s1=p2&canvas=n1").status_code == 201
    assert labels(client.get(f"/iiif-resource/{c}/inspace/2/b1").get_json()) == ["e", "a"]
    assert query(book, "named", "spacename=p1&canvas=n1").status_code == 201
    assert labels(client.get(f"/iiif-resource/{c}/named/second").get_json()) == ["e", "a"]
    table = TABLES["Image"]
    with app.extensions["dlcs.engine"].begin() as conn:
        conn.execute(update(table).where(table.c.image.in_(["b", "e"])).values(batch=7))
        conn.execute(update(table).where(table.c.image == "a").values(batch=8))
    assert query(book, "batches", "batch=p1&canvas=n1").status_code == 201
    assert labels(client.get(f"/iiif-resource/{c}/batches/7").get_json()) == ["e", "b"]
    assert labels(client.get(f"/iiif-resource/{c}/batches/7,8").get_json()) == ["e", "a", "b"]


def test_an_argument_may_hold_a_slash_as_percent_2f(app, client, book):
    registered(app, book, 1, "slashed", string1="shelf/b9", number1=1)
    r = client.get(f"/iiif-resource/{book.customer}/pages/shelf%2Fb9")
    assert r.status_code == 200, r.get_json()
    assert labels(r.get_json()) == ["slashed"]
    assert r.get_json()["label"] == {"en": ["Generated from 'pages' named query: shelf/b9"]}
    # the manifest's id is the URL as the client sent it (a server keeps its request line)
    path = f"/iiif-resource/{book.customer}/pages/shelf%2Fb9"
    sent = client.get(path + "?x=1", environ_overrides={"RAW_URI": path + "?x=1"})
    assert sent.get_json()["id"] == f"http://localhost{path}"


def test_a_global_query_serves_every_customer_and_their_own_comes_first(client, book, bob):
    c = book.customer
    # the global "book": string1 = p1, by number1
    assert labels(client.get(f"/iiif-resource/{c}/book/b1").get_json()) == [
        "e", "c", "d", "a", "b"
    ]  # fmt: skip
    assert labels(client.get(f"/iiif-resource/{c}/space/2").get_json()) == ["e", "a"]
    assert query(book, "book", "s1=p1&canvas=n1 desc").status_code == 201
    assert labels(client.get(f"/iiif-resource/{c}/book/b1").get_json())[0] == "b"
    # another customer's query of that name is theirs only
    assert query(bob, "pages", "s1=p1").status_code == 201
    assert labels(client.get(f"/iiif-resource/{c}/pages/b1").get_json())[0] == "e"


def test_what_matches_nothing_is_a_404(client, book):
    c = book.customer
    for path, says in [
        (f"/iiif-resource/{c}/pages/nothing", "can be shown matches pages/nothing"),
        (f"/iiif-resource/{c}/unknown/b1", "no named query unknown"),
        (f"/iiif-resource/{c}", "/iiif-resource/v3/{customer}/{name}"),
        ("/iiif-resource/x/pages/b1", "/iiif-resource/v3/{customer}/{name}"),
        (f"/iiif-resource/{c + 100}/pages/b1", "no named query pages"),
        ("/iiif-resource/99999999999999999999999/pages/b1", "/iiif-resource/v3/{customer}"),
        (f"/iiif-resource/{c}//b1", "/iiif-resource/v3/{customer}/{name}"),
    ]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert says in r.get_json()["description"], (path, r.get_json())


def test_an_argument_that_does_not_fit_is_a_400(client, book):
    c = book.customer
    assert query(book, "numbered", "n1=p1").status_code == 201
    r = client.get(f"/iiif-resource/{c}/numbered/two")
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == "p1 (n1)"
    r = client.get(f"/iiif-resource/{c}/pages")
    assert r.status_code == 400
    assert "takes up to 1" in r.get_json()["description"]


def test_a_trailing_slash_is_no_argument_and_an_empty_one_is_a_400(client, book):
    c = book.customer
    assert labels(client.get(f"/iiif-resource/{c}/pages/b1/").get_json())[0] == "e"
    assert query(book, "two", "s1=p1&s2=p2").status_code == 201
    r = client.get(f"/iiif-resource/{c}/two//p3")
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == "p1"


def test_presentation_2_is_not_made(client, book):
    r = client.get(f"/iiif-resource/v2/{book.customer}/pages/b1")
    assert r.status_code == 501
    assert "v3" in r.get_json()["description"]


@pytest.mark.parametrize("app_config", [{"MANIFEST_MAX_CANVASES": 4}])
def test_a_query_matching_more_images_than_a_manifest_holds_is_refused(client, book):
    r = client.get(f"/iiif-resource/{book.customer}/pages/b1")
    assert r.status_code == 400
    assert "more than 4 images" in r.get_json()["description"]
    assert query(book, "two", "s1=p1&n1=2&canvas=n1").status_code == 201
    assert client.get(f"/iiif-resource/{book.customer}/two/b1").status_code == 200


def test_the_manifest_is_one_query_of_images_whatever_their_number(app, client, book):
    reader = app.extensions["dlcs.reader"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(reader, "before_cursor_execute", count)
    try:
        assert client.get(f"/iiif-resource/{book.customer}/pages/b1").status_code == 200
        few = len(statements)
        for n in range(30):
            registered(app, book, 1, f"more{n:02}", string1="b1", number1=9, roles=[])
        statements.clear()
        r = client.get(f"/iiif-resource/{book.customer}/pages/b1")
        assert len(r.get_json()["items"]) == 35
        assert len(statements) == few <= 4, statements
    finally:
        event.remove(reader, "before_cursor_execute", count)


def test_a_canvas_carries_the_image_its_metadata_and_a_thumbnail(client, book):
    c = book.customer
    book.patch(f"/customers/{c}/spaces/1/images/b", {"tags": ["x", "y"], "number3": 5})
    manifest = client.get(f"/iiif-resource/{c}/pages/b1").get_json()
    canvas = manifest["items"][-1]
    canvas_id = f"http://localhost/iiif-manifest/{c}/1/b/canvas/c/0"
    assert canvas["id"] == canvas_id and canvas["type"] == "Canvas"
    assert (canvas["width"], canvas["height"]) == (400, 300)
    metadata = {m["label"]["en"][0]: m["value"]["none"][0] for m in canvas["metadata"]}
    assert metadata == {
        "String 1": "b1",
        "String 2": "p3",
        "String 3": "",
        "Number 1": "3",
        "Number 2": "0",
        "Number 3": "5",
        "Tags": "x, y",
        "Roles": "",
    }
    (thumbnail,) = canvas["thumbnail"]
    # the default policy's sizes are 1024, 400, 200, 100: of a 400 x 300 image, 400 is the largest
    assert thumbnail["id"] == f"http://localhost/thumbs/{c}/1/b/full/!400,400/0/default.jpg"
    assert (thumbnail["width"], thumbnail["height"]) == (400, 300)
    assert thumbnail["service"] == [
        {"id": f"http://localhost/thumbs/{c}/1/b", "type": "ImageService3", "profile": "level0"}
    ]
    (page,) = canvas["items"]
    (annotation,) = page["items"]
    assert annotation["motivation"] == "painting" and annotation["target"] == canvas_id
    body = annotation["body"]
    service = f"http://localhost/iiif-img/{c}/1/b"
    assert body["id"] == f"{service}/full/max/0/default.jpg"
    assert (body["type"], body["format"], body["width"], body["height"]) == (
        "Image", "image/jpeg", 400, 300
    )  # fmt: skip
    assert body["service"] == [{"id": service, "type": "ImageService3", "profile": "level2"}]


@pytest.mark.parametrize(
    "max_unauthorised, thumbnail", [(-1, None), (0, None), (250, "!200,200"), (5000, "!400,400")]
)
def test_an_image_with_roles_carries_its_auth_services_and_an_open_thumbnail(
    app, client, alice, max_unauthorised, thumbnail
):
    c = alice.customer
    role = f"http://localhost/customers/{c}/roles/reg"
    registered(app, alice, 1, "locked", string1="b", roles=[role], maxUnauthorised=max_unauthorised)
    registered(app, alice, 1, "open", string1="b", number1=1)
    manifest = client.get(f"/iiif-resource/{c}/book/b").get_json()
    assert manifest["@context"] == [
        "http://iiif.io/api/auth/2/context.json",
        "http://iiif.io/api/presentation/3/context.json",
    ]
    locked, unlocked = manifest["items"]
    service = locked["items"][0]["items"][0]["body"]["service"][0]
    (probe,) = service["service"]
    assert probe["type"] == "AuthProbeService2"
    assert probe["id"] == f"http://localhost/auth/v2/probe/{c}/1/locked"
    (access,) = probe["service"]
    assert access["id"] == f"http://localhost/auth/v2/access/{c}/reg"
    assert access["label"] == {"en": ["Registered"]}
    roles = next(m for m in locked["metadata"] if m["label"]["en"] == ["Roles"])
    assert roles["value"] == {"none": ["reg"]}
    if thumbnail is None:
        assert "thumbnail" not in locked
    else:
        assert locked["thumbnail"][0]["id"].endswith(f"/full/{thumbnail}/0/default.jpg")
        assert locked["thumbnail"][0]["service"][0]["service"] == [probe]
    assert "service" not in unlocked["items"][0]["items"][0]["body"]["service"][0]


def test_manifests_are_cached_by_etag_and_readable_anywhere(app, client, book):
    path = f"/iiif-resource/{book.customer}/pages/b1"
    r = client.get(path, headers={"Origin": "https://viewer.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Cache-Control"] == "public, max-age=60"
    tag = r.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    head = client.head(path)
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == tag
    preflight = client.options(path, headers={"Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200
    # a change of an image's metadata is a new manifest, with a new tag
    book.patch(f"/customers/{book.customer}/spaces/1/images/b", {"string3": "new"})
    changed = client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_only_reads_are_answered(client, book):
    r = client.post(f"/iiif-resource/{book.customer}/pages/b1")
    assert r.status_code == 405


# -- one image -------------------------------------------------------------------------------


def test_one_image_is_a_manifest_of_its_own(client, book):
    c = book.customer
    r = client.get(f"/iiif-manifest/{c}/1/b")
    assert r.status_code == 200 and r.headers["Content-Type"] == MANIFEST_TYPE
    manifest = r.get_json()
    assert manifest["id"] == f"http://localhost/iiif-manifest/{c}/1/b"
    assert manifest["label"] == {"en": ["b"]}
    assert labels(manifest) == ["b"]
    # its canvas is the one the named queries show
    named = client.get(f"/iiif-resource/{c}/pages/b1").get_json()
    assert manifest["items"][0] == named["items"][-1]
    assert client.get(f"/iiif-manifest/v3/{c}/1/b").get_json()["items"] == manifest["items"]


@pytest.mark.parametrize(
    "image, says",
    [("waiting", "not an image"), ("failed", "it broke"), ("none", "There is no image")],
)
def test_an_image_that_cannot_be_shown_has_no_manifest(client, book, image, says):
    r = client.get(f"/iiif-manifest/{book.customer}/1/{image}")
    assert r.status_code == 404
    assert says in r.get_json()["description"]


@pytest.mark.parametrize(
    "path",
    [
        "/iiif-resource/{c}/pages/a%00b",
        "/iiif-manifest/{c}/1/a%00b",
        "/iiif-img/{c}/1/a%00b/info.json",
        "/thumbs/{c}/1/a%01b/info.json",
        "/auth/v2/probe/{c}/1/a%1Fb",
    ],
)
def test_a_control_character_in_a_delivery_path_is_a_400(client, book, path):
    r = client.get(path.format(c=book.customer))
    assert r.status_code == 400, r.get_json()
    assert "control character" in r.get_json()["description"]
