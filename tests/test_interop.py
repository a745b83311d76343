"""Linked-data interoperability: negotiation, any JSON-LD in, validators, CORS, the console."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import threading

import pytest
import rdflib

from tests.conftest import BASE

RDF_TYPES = {"text/turtle": "turtle", "application/n-triples": "nt", "application/rdf+xml": "xml"}


def canonical(graph: rdflib.Graph) -> set[tuple[str, str, str]]:
    """Return a graph's triples, each blank node named after what it says, recursively.

    The API's blank nodes form trees (a property's description, a template's mappings), so a
    name made from a node's own triples names it as any isomorphism would, in linear time:
    rdflib's general comparison of the API documentation's graphs took 20 to 30 seconds.
    """
    names: dict[rdflib.BNode, str] = {}

    def term(node: object) -> str:
        if not isinstance(node, rdflib.BNode):
            return node.n3()
        if node not in names:
            said = sorted(f"{p.n3()} {term(o)}" for p, o in graph.predicate_objects(node))
            names[node] = "_:" + hashlib.sha256("\n".join(said).encode()).hexdigest()
        return names[node]

    return {(term(s), term(p), term(o)) for s, p, o in graph}


def image(api, name: str = "img") -> str:
    return f"/customers/{api.customer}/spaces/1/images/{name}"


@pytest.fixture
def stored(alice):
    role = f"{BASE}/customers/{alice.customer}/roles/reg"
    body = {"string1": "hello", "number2": 7, "tags": ["a", "b"], "roles": [role]}
    assert alice.put(image(alice), body).status_code == 201
    return alice


# -- content negotiation ---------------------------------------------------------------------


@pytest.mark.parametrize("media_type", list(RDF_TYPES))
@pytest.mark.parametrize("path", ["image", "collection", "/vocab", "/"])
def test_rdf_forms_carry_exactly_the_triples_of_the_json_ld(stored, media_type, path):
    url = {"image": image(stored), "collection": f"/customers/{stored.customer}/spaces/1/images"}
    url = url.get(path, path)
    r = stored.get(url, headers={"Accept": media_type})
    assert r.status_code == 200
    assert r.mimetype == media_type
    assert "Accept" in r.headers["Vary"]
    served = rdflib.Graph().parse(data=r.data, format=RDF_TYPES[media_type], publicID=BASE + url)
    from_json_ld = stored.ld.graph(stored.get(url).get_json())
    assert len(served) >= 4
    assert len(served) == len(from_json_ld)
    assert canonical(served) == canonical(from_json_ld)


def test_unservable_media_type_is_406(stored):
    r = stored.get(image(stored), headers={"Accept": "image/png"})
    assert r.status_code == 406
    assert r.mimetype == "application/ld+json"
    assert r.get_json()["@type"] == "Error"


def test_html_is_served_to_browsers(stored):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = stored.get(image(stored), headers={"Accept": browser})
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert f'href="{BASE}/customers/{stored.customer}/roles/reg"' in page
    assert 'data-method="PATCH"' in page and 'data-method="DELETE"' in page
    assert 'name="string1"' in page and 'name="width"' not in page  # width is read-only


def test_collection_page_offers_the_collection_operations(stored):
    r = stored.get(f"/customers/{stored.customer}/spaces", headers={"Accept": "text/html"})
    page = r.get_data(as_text=True)
    assert 'data-method="POST"' in page and 'name="name"' in page


def test_console_cookie_authenticates_pages_only(stored, anon):
    token = base64.b64encode(stored.headers["Authorization"].split()[1].encode()).decode()
    token = stored.headers["Authorization"].split()[1]
    anon.client.set_cookie("dlcs_console", token, domain="localhost")
    assert anon.get(image(stored), headers={"Accept": "text/html"}).status_code == 200
    assert anon.get(image(stored), headers={"Accept": "application/ld+json"}).status_code == 401
    r = anon.patch(image(stored), {"string1": "csrf"}, headers={"Accept": "text/html"})
    assert r.status_code == 401
    anon.client.delete_cookie("dlcs_console", domain="localhost")


def test_console_script_is_served(anon):
    r = anon.get("/console.js")
    assert r.status_code == 200 and b"sessionStorage" in r.data


# -- any JSON-LD in --------------------------------------------------------------------------


def _bodies(api):
    vocab = f"{BASE}/vocab#Image/"
    role = f"{BASE}/customers/{api.customer}/roles/reg"
    return {
        "compact": {"string1": "x", "number1": 3, "tags": ["t"], "roles": [role]},
        "our context": {
            "@context": f"{BASE}/contexts/Image.jsonld",
            "@type": "Image",
            "string1": "x",
            "number1": 3,
            "tags": ["t"],
            "roles": [role],
        },
        "expanded": [
            {
                "@type": [f"{BASE}/vocab#Image"],
                f"{vocab}string1": [{"@value": "x"}],
                f"{vocab}number1": [{"@value": 3}],
                f"{vocab}tags": [{"@value": "t"}],
                f"{vocab}roles": [{"@id": role}],
            }
        ],
        "another context": {
            "@context": {
                "d": f"{BASE}/vocab#Image/",
                "label": "d:string1",
                "n": {"@id": "d:number1", "@type": "http://www.w3.org/2001/XMLSchema#integer"},
                "keywords": "d:tags",
                "needs": {"@id": "d:roles", "@type": "@id"},
            },
            "label": "x",
            "n": "3",
            "keywords": ["t"],
            "needs": role,
        },
    }


@pytest.mark.parametrize("form", ["compact", "our context", "expanded", "another context"])
def test_every_json_ld_form_gives_the_same_image(stored, form):
    body = _bodies(stored)[form]
    r = stored.put(image(stored, form.replace(" ", "-")), body)
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert (doc["string1"], doc["number1"], doc["tags"]) == ("x", 3, ["t"])
    assert doc["roles"] == [f"{BASE}/customers/{stored.customer}/roles/reg"]


def test_turtle_body_is_accepted_for_put(stored):
    url = BASE + image(stored, "ttl")
    turtle = f"""
        @prefix v: <{BASE}/vocab#Image/> .
        <{url}> a <{BASE}/vocab#Image> ;
            v:string1 "from turtle" ; v:number3 42 ; v:tags "x", "y" .
    """
    r = stored.put(image(stored, "ttl"), turtle, headers={"Content-Type": "text/turtle"})
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert (doc["string1"], doc["number3"], sorted(doc["tags"])) == ("from turtle", 42, ["x", "y"])


# A worker that only ever reads and writes compact JSON-LD never loads pyld and the RDF code.
_ONLY_WHEN_NEEDED = """
import base64, json, sys
from app.factory import create_app  # (not tests.conftest: it imports pyld)

app = create_app({"DATABASE_URL": sys.argv[1], "AUTO_MIGRATE": False, "EMBEDDED_WORKER": False})
made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "c"]).output)
token = base64.b64encode(f"{made['key']}:{made['secret']}".encode()).decode()
client, auth = app.test_client(), {"Authorization": f"Basic {token}"}
space = f"/customers/{made['id']}/spaces/1"
assert client.put(space, json={"name": "s"}, headers=auth).status_code == 201
assert client.put(space + "/images/a", json={"string1": "x"}, headers=auth).status_code == 201
assert client.patch(space + "/images/a", json={"number1": 1}, headers=auth).status_code == 200
assert client.get(space + "/images/a", headers=auth).status_code == 200
loaded = sorted(m for m in ("app.web.rdf", "pyld") if m in sys.modules)
assert not loaded, f"compact JSON loaded {loaded}"
expanded = [{"http://localhost/vocab#Image/string1": [{"@value": "y"}]}]
assert client.put(space + "/images/b", json=expanded, headers=auth).status_code == 201
assert "pyld" in sys.modules  # (what the first assertion would have seen)
"""


def test_compact_json_bodies_do_not_load_the_rdf_code(database_url):
    # In a process of its own: this one has loaded everything already.
    run = subprocess.run(
        [sys.executable, "-c", _ONLY_WHEN_NEEDED, database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_unknown_iri_in_json_ld_is_named(stored):
    body = {"@context": {"x": "http://example.org/x#"}, "x:colour": "red"}
    r = stored.put(image(stored, "odd"), body)
    assert r.status_code == 400
    assert "http://example.org/x#colour" in [v["propertyPath"] for v in r.get_json()["violations"]]


def test_remote_contexts_are_not_fetched(stored):
    r = stored.put(image(stored, "remote"), {"@context": "http://example.org/ctx.jsonld", "a": 1})
    assert r.status_code == 400
    assert "inline" in r.get_json()["description"]


@pytest.mark.parametrize("content_type", ["text/csv", "application/xml", "image/jpeg"])
def test_unsupported_body_is_415(stored, content_type):
    r = stored.put(image(stored, "x"), "a,b", headers={"Content-Type": content_type})
    assert r.status_code == 415
    assert r.get_json()["@type"] == "Error"


# -- validators ---------------------------------------------------------------------------------


def test_get_has_a_strong_etag_and_304(stored):
    r = stored.get(image(stored))
    tag = r.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = stored.get(image(stored), headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == tag
    assert "Date" not in r.headers and "Date" not in again.headers  # (the server sends one)
    turtle = stored.get(image(stored), headers={"Accept": "text/turtle"})
    assert turtle.headers["ETag"] != tag


def test_what_a_cache_in_front_may_keep_is_said(stored, anon):
    # A customer's resources look at the caller: only the caller's browser may keep them, and
    # it asks again each time (no-cache; a 304 while its ETag holds). What is the same for
    # everyone may be kept by any cache, for DLCS_PUBLIC_MAX_AGE.
    for url in (image(stored), f"/customers/{stored.customer}/spaces/1/images", "/"):
        assert stored.get(url).headers["Cache-Control"] == "private, no-cache", url
    for url in ("/vocab", "/contexts/Image.jsonld", "/thumbnailpolicies/default"):
        assert anon.get(url).headers["Cache-Control"] == "public, max-age=300", url
    assert stored.get("/vocab").headers["Cache-Control"] == "public, max-age=300"
    assert "Cache-Control" not in anon.get(image(stored)).headers  # (a 401)


@pytest.mark.parametrize("app_config", [{"API_MAX_AGE": 60, "PUBLIC_MAX_AGE": 86400}])
def test_how_long_caches_may_keep_responses_is_configured(stored, anon):
    assert stored.get(image(stored)).headers["Cache-Control"] == "private, max-age=60"
    assert anon.get("/vocab").headers["Cache-Control"] == "public, max-age=86400"


def test_head_is_answered_wherever_get_is(stored):
    for url in ("/", "/vocab", image(stored), f"/customers/{stored.customer}/spaces/1/images"):
        r = stored.request("HEAD", url)
        assert r.status_code == 200 and r.data == b""
        assert r.headers["ETag"] == stored.get(url).headers["ETag"]


def test_stale_if_match_is_412_and_changes_nothing(stored):
    tag = stored.get(image(stored)).headers["ETag"]
    first = stored.patch(image(stored), {"string2": "first"}, headers={"If-Match": tag})
    assert first.status_code == 200
    second = stored.patch(image(stored), {"string2": "second"}, headers={"If-Match": tag})
    assert second.status_code == 412
    assert stored.get(image(stored)).get_json()["string2"] == "first"
    assert stored.delete(image(stored), headers={"If-Match": tag}).status_code == 412
    fresh = stored.get(image(stored)).headers["ETag"]
    assert stored.put(image(stored), {}, headers={"If-Match": fresh}).status_code == 200


def test_if_none_match_star_only_creates(stored):
    assert stored.put(image(stored), {}, headers={"If-None-Match": "*"}).status_code == 412
    assert stored.put(image(stored, "new"), {}, headers={"If-None-Match": "*"}).status_code == 201


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_two_concurrent_writers_with_one_etag(app, stored, method):
    tag = stored.get(image(stored)).headers["ETag"]
    barrier, statuses = threading.Barrier(2), []

    def write(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        headers = {**stored.headers, "If-Match": tag}
        r = client.open(image(stored), method=method, json={"string3": f"w{n}"}, headers=headers)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 412]


# -- CORS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"CORS_ORIGINS": "https://allowed.example"}])
def test_configured_cors_origins(app, anon):
    ok = anon.get("/", headers={"Origin": "https://allowed.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://allowed.example"
    assert "Origin" in ok.headers["Vary"]
    other = anon.get("/", headers={"Origin": "https://other.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
