"""What an attacker and a fault injector tried: each is refused or bounded, never a 500."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from app.ingest.derivatives import thumbnail_key
from app.ingest.fetch import FetchSettings, Overdue, fetch


def image_url(api, image: str, space: int = 1) -> str:
    return f"/customers/{api.customer}/spaces/{space}/images/{image}"


def thumbnail_files(app) -> set[Path]:
    return set(Path(app.config["STORAGE_DIR"]).rglob("*.jpg"))


# -- storage paths are never built from raw ids ----------------------------------------------


@pytest.mark.parametrize("image", ["..", ".", "a/../..", "%2E%2E", "x\\..\\.."])
def test_thumbnail_folder_stays_inside_its_space(tmp_path, image):
    storage = tmp_path / "storage"
    thumbnail = storage / thumbnail_key({"customer": 3, "space": 4, "image": image}, 7, 100)
    space = (storage / "derivatives" / "3" / "4").resolve()
    assert thumbnail.resolve().parent.parent.parent.parent == space


@pytest.mark.parametrize("image", ["%2E%2E", "%2E", "..", "."])
def test_dot_ids_are_refused_and_other_thumbnails_survive(app, alice, origin, image):
    assert alice.put(image_url(alice, "a"), {"origin": origin.url("photo.jpg")}).status_code == 201
    before = thumbnail_files(app)
    assert before
    r = alice.put(image_url(alice, image), {"origin": origin.url("photo.jpg")})
    assert r.status_code in (400, 404), r.data
    assert alice.delete(image_url(alice, image)).status_code in (400, 404)
    assert thumbnail_files(app) == before
    assert alice.get(image_url(alice, "a")).get_json()["width"] == 640


def test_queued_dot_id_is_refused(app, alice, origin):
    assert alice.put(image_url(alice, "a"), {"origin": origin.url("photo.jpg")}).status_code == 201
    before = thumbnail_files(app)
    body = {"@type": "Collection", "member": [{"id": "..", "space": 1, "origin": "x"}]}
    r = alice.post(f"/customers/{alice.customer}/queue", body)
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == "member[0].id"
    assert thumbnail_files(app) == before


# -- one URL per resource ---------------------------------------------------------------------


def test_full_width_digits_name_no_space(alice):
    assert alice.get(f"/customers/{alice.customer}/spaces/1").status_code == 200
    assert alice.get(f"/customers/{alice.customer}/spaces/%EF%BC%91").status_code == 404
    assert alice.get(f"/customers/{alice.customer}/spaces/%C2%B9").status_code == 404


@pytest.mark.parametrize("raw", ["%FF", "%FE", "a%C3", "%ED%A0%80"])
def test_ids_that_are_not_utf8_are_refused(alice, raw):
    r = alice.put(image_url(alice, raw), {"string1": "x"})
    assert r.status_code == 400
    assert "UTF-8" in r.get_json()["description"]
    assert alice.get(image_url(alice, raw)).status_code == 400
    assert alice.get(f"/customers/{alice.customer}/spaces/1/images").get_json()["totalItems"] == 0


def test_a_replacement_character_sent_as_utf8_is_an_ordinary_id(alice):
    assert alice.put(image_url(alice, "%EF%BF%BD"), {"string1": "x"}).status_code == 201
    assert alice.get(image_url(alice, "%EF%BF%BD")).status_code == 200


# -- ingest records what happened, when it happened ---------------------------------------------


def test_finished_is_when_ingest_ended(alice, origin):
    r = alice.put(image_url(alice, "slow"), {"origin": origin.url("delay/1500/photo.jpg")})
    doc = r.get_json()
    assert doc["width"] == 640
    took = dt.datetime.fromisoformat(doc["finished"]) - dt.datetime.fromisoformat(doc["created"])
    assert took >= dt.timedelta(seconds=1.4)


@pytest.mark.parametrize(
    "origin_url",
    [
        "http://[::1",
        "http://" + "a" * 300 + "/x.jpg",
        "http://a..b/x.jpg",
        "http://[::1]:99999/x.jpg",
        "http:///x.jpg",
        "http://exa mple.org/x.jpg",
    ],
)
def test_malformed_origins_are_a_400_naming_the_origin(alice, caplog, origin_url):
    r = alice.put(image_url(alice, "bad"), {"origin": origin_url})
    assert r.status_code == 400
    (fault,) = r.get_json()["violations"]
    assert fault["propertyPath"] == "origin" and "not a valid URL" in fault["message"], fault
    assert alice.get(image_url(alice, "bad")).status_code == 404  # (nothing written)
    assert "unexpectedly" not in caplog.text


# -- a slow client holds no lock ----------------------------------------------------------------


def test_a_patch_whose_body_is_slow_to_come_holds_no_lock(app, alice, bob, served):
    """A PATCH that declares 15 bytes and sends 5 keeps no other write waiting."""
    path = image_url(alice, "a")
    made = requests.put(served + path, json={"string1": "x"}, headers=alice.headers, timeout=10)
    assert made.status_code == 201
    host, port = served.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    try:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\n{_header_lines(alice.headers)}"
            "Content-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        )
        slow.sendall(head.encode() + b'{"str')
        time.sleep(0.3)  # (the server has read what was sent, and waits for the rest)
        started = time.monotonic()
        other = requests.put(
            served + image_url(bob, "b"), json={"string1": "y"}, headers=bob.headers, timeout=10
        )
        same = requests.patch(
            served + path, json={"string2": "z"}, headers=alice.headers, timeout=10
        )
        took = time.monotonic() - started
    finally:
        slow.close()
    assert other.status_code == 201
    assert same.status_code == 200
    assert took < 5, f"writes waited {took:.1f} s behind a slow PATCH"


def _header_lines(headers: dict[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())


# -- what used to be a 500 is a 400 naming what is wrong ------------------------------------------

V = "http://localhost/vocab#Image/"
XSD = "http://www.w3.org/2001/XMLSchema#"
JSON, TURTLE = "application/json", "text/turtle"


def _turtle(triples: str) -> str:
    # (CUSTOMER is replaced by the test's customer: on PostgreSQL their numbers go on rising)
    return f"<http://localhost/customers/CUSTOMER/spaces/1/images/x> {triples} ."


def _for(api, body: str | bytes) -> str | bytes:
    if isinstance(body, bytes):
        return body.replace(b"/customers/CUSTOMER/", f"/customers/{api.customer}/".encode())
    return body.replace("/customers/CUSTOMER/", f"/customers/{api.customer}/")


HOSTILE_BODIES = {
    "JSON nested 1,000 deep": ("[" * 1000 + "]" * 1000, JSON),
    "JSON object nested 1,000 deep": ('{"a":' * 1000 + "1" + "}" * 1000, JSON),
    "@type an object": ('{"@type": {}}', JSON),
    "@type a list in a list": ('{"@type": [[]]}', JSON),
    "@id an object": ('{"@id": {}}', JSON),
    "@context a number": ('{"@context": 5}', JSON),
    "a lone surrogate escaped": ('{"string1": "\\ud800"}', JSON),
    "a lone surrogate as bytes": (b'{"string1": "\xed\xa0\x80"}', JSON),
    "a lone surrogate in Turtle": (_turtle(f'<{V}string1> "\\uD800"'), TURTLE),
    "a non-ASCII digit as a typed literal": (_turtle(f'<{V}number1> "²"^^<{XSD}integer>'), TURTLE),
    "a 5,000-digit integer": (_turtle(f'<{V}number1> "{"9" * 5000}"^^<{XSD}integer>'), TURTLE),
    "a 5,000-digit JSON number": ('{"number1": ' + "9" * 5000 + "}", JSON),
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_hostile_bodies_are_400_and_change_nothing(alice, name):
    body, media = HOSTILE_BODIES[name]
    path = image_url(alice, "x")
    assert alice.put(path, {"string1": "kept"}).status_code == 201
    for method in ("PUT", "PATCH"):
        r = alice.request(method, path, _for(alice, body), headers={"Content-Type": media})
        assert r.status_code == 400, (method, r.status_code, r.data[:300])
        assert r.get_json()["@type"] == "Error"
    assert alice.get(path).get_json()["string1"] == "kept"


@pytest.mark.parametrize(
    "query",
    [
        "page=²",
        "pageSize=²",
        "number1=²",
        "number1=" + "9" * 5000,
        "string1=%ED%A0%80",
        "q=%7B%22string1%22%3A%22%5Cud800%22%7D",  # q={"string1": "\ud800"}
        'q={"number1": 99999999999999999999999}',
        'q={"number1": 1e400}',
        'q={"number1": "²"}',
        "q=" + "[" * 1000,
    ],
)
def test_hostile_queries_are_400(alice, query):
    for path in ("spaces/1/images", "allImages"):
        r = alice.get(f"/customers/{alice.customer}/{path}?{query}")
        assert r.status_code == 400, (path, query[:40], r.status_code, r.data[:300])


@pytest.mark.parametrize("header", ["Basic é", "Basic ¹²³", "Basic =", "Basic " + "é" * 1000])
def test_odd_authorization_headers_are_401(alice, header):
    r = alice.client.get(f"/customers/{alice.customer}/spaces/1", headers={"Authorization": header})
    assert r.status_code == 401, r.data
    assert r.headers["WWW-Authenticate"].startswith("Basic")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
  <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:v="http://localhost/vocab#Image/">
  <rdf:Description rdf:about="http://localhost/customers/CUSTOMER/spaces/1/images/x">
    <v:string1>&e;</v:string1>
  </rdf:Description>
</rdf:RDF>"""


def test_rdf_xml_bodies_may_not_declare_entities(alice):
    path = image_url(alice, "x")
    r = alice.put(
        path, _for(alice, BILLION_LAUGHS), headers={"Content-Type": "application/rdf+xml"}
    )
    assert r.status_code == 400
    assert "DTD" in r.get_json()["violations"][0]["message"]
    assert alice.get(path).status_code == 404


def test_rdf_bodies_hold_a_bounded_number_of_triples(app, alice):
    app.config["MAX_BODY_TRIPLES"] = 50
    path = image_url(alice, "x")
    tags = ", ".join(f'"t{i}"' for i in range(51))
    r = alice.put(path, _for(alice, _turtle(f"<{V}tags> {tags}")), headers={"Content-Type": TURTLE})
    assert r.status_code == 400
    assert "DLCS_MAX_BODY_TRIPLES" in r.get_json()["violations"][0]["message"]
    tags = ", ".join(f'"t{i}"' for i in range(49))
    r = alice.put(path, _for(alice, _turtle(f"<{V}tags> {tags}")), headers={"Content-Type": TURTLE})
    assert r.status_code == 201, r.get_json()
    assert len(r.get_json()["tags"]) == 49


def test_rdf_lists_in_bodies_are_read_in_order(alice):
    path = image_url(alice, "x")
    r = alice.put(
        path, _for(alice, _turtle(f'<{V}tags> ("b" "a" "c")')), headers={"Content-Type": TURTLE}
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["tags"] == ["b", "a", "c"]


# -- what a request may ask of the database is bounded --------------------------------------------


def test_many_tags_are_one_query_and_a_bounded_number(app, alice):
    many = [f"t{i}" for i in range(100)]
    assert alice.put(image_url(alice, "all"), {"tags": many}).status_code == 201
    assert alice.put(image_url(alice, "some"), {"tags": many[:99]}).status_code == 201
    for path in ("spaces/1/images", "allImages"):
        url = f"/customers/{alice.customer}/{path}"
        r = alice.get(f"{url}?tags={','.join(many)}")
        assert r.status_code == 200
        assert [m["@id"].rsplit("/", 1)[1] for m in r.get_json()["member"]] == ["all"]
        # the same tag twice is one tag
        assert alice.get(f"{url}?tags=t1,t1,t2").get_json()["totalItems"] == 2
        r = alice.get(f"{url}?tags={','.join([*many, 'one-more'])}")
        assert r.status_code == 400
        assert "DLCS_MAX_FILTER_VALUES" in r.get_json()["violations"][0]["message"]
    app.config["MAX_FILTER_VALUES"] = 2
    assert alice.get(f"/customers/{alice.customer}/allImages?tags=t1&number1=0").status_code == 200
    r = alice.get(f"/customers/{alice.customer}/allImages?tags=t1,t2&number1=0")
    assert r.status_code == 400


def test_a_statement_that_runs_too_long_is_ended_by_postgresql(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a statement timeout is PostgreSQL's")
    from flask import jsonify

    from app.factory import create_app
    from app.storage.db import connection, dispose

    settings = {"DATABASE_URL": database_url, "AUTO_MIGRATE": False, "EMBEDDED_WORKER": False}
    app = create_app({**settings, "STATEMENT_TIMEOUT": 0.05})

    @app.get("/slow")
    def slow():
        return jsonify(connection().exec_driver_sql("SELECT pg_sleep(2)").scalar())

    try:
        r = app.test_client().get("/slow")
        assert r.status_code == 503
        assert "0.05 s" in r.get_json()["description"]
    finally:
        dispose(app)


# -- values have declared bounds ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"string1": "x" * 4097}, "string1"),
        ({"origin": "http://example.org/" + "x" * 4096}, "origin"),
        ({"tags": [f"t{i}" for i in range(101)]}, "tags"),
        ({"tags": ["x" * 4097]}, "tags[0]"),
    ],
)
def test_values_past_their_declared_bounds_are_400(alice, body, where):
    path = image_url(alice, "x")
    assert alice.put(path, {"string1": "kept"}).status_code == 201
    for method in ("PUT", "PATCH"):
        r = alice.request(method, path, body)
        assert r.status_code == 400, (method, r.get_json())
        assert [v["propertyPath"] for v in r.get_json()["violations"]] == [where]
    queued = {"@type": "Collection", "member": [{"id": "y", "space": 1, **body}]}
    r = alice.post(f"/customers/{alice.customer}/queue", queued)
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == f"member[0].{where}"
    assert alice.get(path).get_json()["string1"] == "kept"
    assert alice.get(image_url(alice, "y")).status_code == 404


def test_values_up_to_their_bounds_are_kept(alice):
    body = {"string1": "x" * 4096, "tags": ["y" * 4096] + [f"t{i}" for i in range(99)]}
    r = alice.put(image_url(alice, "x"), body)
    assert r.status_code == 201, r.get_json()
    assert len(r.get_json()["string1"]) == 4096 and len(r.get_json()["tags"]) == 100


def test_the_documentation_states_the_bounds(anon):
    doc = anon.get("/vocab").get_json()
    image = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Image")
    described = {p["title"]: p["description"] for p in image["supportedProperty"]}
    assert "at most 4096 characters" in described["string1"]
    assert "at most 100 values" in described["tags"]
    schema = anon.get("/openapi.json").get_json()["components"]["schemas"]["Image"]
    assert schema["properties"]["string1"]["maxLength"] == 4096
    assert schema["properties"]["tags"]["maxItems"] == 100


# -- a PUT racing a DELETE of the same image ------------------------------------------------------


def test_puts_racing_deletes_of_one_image_never_fail(app, alice):
    """Threads PUT (with tags: several statements) and DELETE one id at once: no 500."""
    path = image_url(alice, "raced")
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def work(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        for i in range(40):
            if (n + i) % 3 == 0:
                r = client.delete(path, headers=alice.headers)
            else:
                body = {"string1": f"{n}-{i}", "tags": [f"t{n}", f"u{i}"]}
                r = client.put(path, json=body, headers=alice.headers)
            statuses.append(r.status_code)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 201, 205, 404}, sorted(set(statuses))
    assert {200, 201, 205} <= set(statuses)
    final = alice.get(path)
    if final.status_code == 200:  # what the last PUT wrote, whole
        doc = final.get_json()
        n, i = doc["string1"].split("-")
        assert doc["tags"] == [f"t{n}", f"u{i}"]


# -- an origin fetch has one deadline -----------------------------------------------------------


@pytest.mark.parametrize("part", ["headers", "body"])
def test_an_origin_that_trickles_is_cut_off_at_the_fetch_deadline(origin, part):
    """A header line or a byte every 0.1 s never lets a read time out; the deadline ends it."""
    settings = FetchSettings(allow_private=True, read_timeout=1, total_timeout=1)
    started = time.monotonic()
    with pytest.raises(Overdue, match="longer than 1 s"):
        fetch(origin.url(f"trickle/{part}"), settings)
    assert time.monotonic() - started < 10  # (the origin trickles for 20 s)


# -- no ingest is lost, and no request waits on an origin for long ---------------------------------


def test_an_immediate_ingest_past_its_time_answers_202_and_reads_the_origin_once(
    app, alice, origin
):
    """The request stops waiting; its fetch goes on into the job (no second fetch)."""
    app.config["IMMEDIATE_INGEST_SECONDS"] = 0.5
    name = f"slow-{uuid.uuid4().hex}.jpg"
    shutil.copyfile(origin.folder / "photo.jpg", origin.folder / name)
    path = image_url(alice, "slow")
    r = alice.put(path, {"origin": origin.url(f"delay/2000/{name}")})
    assert r.status_code == 202
    assert "Preference-Applied" not in r.headers  # (no Prefer was sent)
    doc = r.get_json()
    assert doc["ingesting"] is True and doc["error"] == "" and "width" not in doc
    assert app.extensions["dlcs.queue"].drain() == 0  # (the request's thread holds the job)
    deadline = time.monotonic() + 30
    while alice.get(path).get_json()["ingesting"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    doc = alice.get(path).get_json()
    assert (doc["width"], doc["ingesting"], doc["error"]) == (640, False, "")
    assert origin.hits[f"/delay/2000/{name}"] == 1
    assert app.extensions["dlcs.queue"].drain() == 0  # (done: no job is left to run again)


def _waiting_image(app, alice, origin_url: str, lease: float):
    """An image registered with an origin whose job a request holds for ``lease`` seconds."""
    from sqlalchemy import update

    from app.api.ingest import requeue
    from app.storage.models import TABLES
    from app.storage.store import store

    path = image_url(alice, "held")
    assert alice.put(path, {"string1": "x"}).status_code == 201
    keys = {"customer": alice.customer, "space": 1, "image": "held"}
    queue = app.extensions["dlcs.queue"]
    with app.extensions["dlcs.engine"].begin() as conn:
        image = update(TABLES["Image"]).where(store("Image").match(keys))
        conn.execute(image.values(origin=origin_url))
        queue.hold(conn, [requeue(conn, keys)], dt.timedelta(seconds=lease))
    return path, queue


def test_a_job_held_by_a_request_that_died_is_taken_up_when_its_lease_ends(app, alice, origin):
    path, queue = _waiting_image(app, alice, origin.url("photo.jpg"), lease=-1)
    assert queue.drain() == 1
    assert alice.get(path).get_json()["width"] == 640


def test_a_job_whose_holder_still_holds_it_is_left_alone(app, alice, origin):
    path, queue = _waiting_image(app, alice, origin.url("photo.jpg"), lease=60)
    assert queue.drain() == 0
    assert alice.get(path).get_json()["ingesting"] is True
