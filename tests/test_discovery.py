"""Discovery: entry point, API documentation, contexts; headers every response carries."""

from __future__ import annotations

import pytest
from rdflib import RDF, URIRef

from app.storage.db import dispose as dispose_app
from tests.conftest import BASE

HYDRA = "http://www.w3.org/ns/hydra/core#"
DOC_LINK = f'<{BASE}/vocab>; rel="{HYDRA}apiDocumentation"'


def test_entry_point_links_to_the_top_level_collections(anon):
    r = anon.get("/")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["@id"] == f"{BASE}/"
    assert doc["customers"] == f"{BASE}/customers"
    assert doc["imageOptimisationPolicies"] == f"{BASE}/imageoptimisationpolicies"
    assert doc["thumbnailPolicies"] == f"{BASE}/thumbnailpolicies"
    graph = anon.ld.graph(doc)
    assert (URIRef(f"{BASE}/"), RDF.type, URIRef(f"{BASE}/vocab#EntryPoint")) in graph


def test_documentation_is_one_node_with_every_class(anon):
    r = anon.get("/vocab")
    assert r.status_code == 200
    doc = r.get_json()
    assert "@graph" not in doc
    assert doc["@type"] == "ApiDocumentation"
    assert doc["entrypoint"] == f"{BASE}/"
    expanded = anon.ld.expand(doc)[0]
    classes = {c["@id"] for c in expanded[f"{HYDRA}supportedClass"]}
    for name in ("Image", "Role", "Space", "Customer", "EntryPoint", "Key"):
        assert f"{BASE}/vocab#{name}" in classes
    assert f"{HYDRA}Error" in classes


def test_image_type_expands_to_a_supported_class(alice, anon):
    c = alice.customer
    image = alice.put(f"/customers/{c}/spaces/1/images/x", {}).get_json()
    doc = anon.get("/vocab").get_json()
    classes = {c["@id"] for c in anon.ld.expand(doc)[0][f"{HYDRA}supportedClass"]}
    assert alice.ld.expand(image)[0]["@type"] == [f"{BASE}/vocab#Image"]
    assert f"{BASE}/vocab#Image" in classes


def test_image_operations_have_method_title_and_returns(anon):
    doc = anon.get("/vocab").get_json()
    image = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Image")
    methods = {op["method"]: op for op in image["supportedOperation"]}
    assert set(methods) == {"GET", "PUT", "PATCH", "DELETE"}
    for op in methods.values():
        assert op["title"] and op["returns"]
        assert all("statusCode" in s and s["description"] for s in op["possibleStatus"])
    assert methods["DELETE"]["returns"] == "owl:Nothing"
    assert "expects" not in methods["GET"]
    assert methods["PUT"]["expects"] == "vocab:Image"


def test_link_properties_are_hydra_links_with_a_range(anon):
    doc = anon.get("/vocab").get_json()
    image = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Image")
    props = {p["title"]: p for p in image["supportedProperty"]}
    assert props["roles"]["property"]["@type"] == "Link"
    assert props["roles"]["property"]["range"] == "vocab:Role"
    assert props["origin"]["property"]["@type"] == "Property"
    assert props["initialOrigin"]["readable"] is False
    assert props["width"]["writable"] is False and props["width"]["writeable"] is False


def test_collection_operations_hang_on_link_properties(anon):
    doc = anon.get("/vocab").get_json()
    space = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Space")
    images = next(p for p in space["supportedProperty"] if p["title"] == "images")
    ops = images["property"]["supportedOperation"]
    assert [op["method"] for op in ops] == ["GET"]
    assert ops[0]["returns"] == "hydra:Collection"


@pytest.mark.parametrize(
    "name", ["Image", "Role", "Space", "Customer", "EntryPoint", "Error", "Key", "ThumbnailPolicy"]
)
def test_context_is_served_and_self_contained(anon, name):
    r = anon.get(f"/contexts/{name}.jsonld")
    assert r.status_code == 200
    assert r.mimetype == "application/ld+json"
    terms = r.get_json()["@context"]
    assert terms["vocab"] == f"{BASE}/vocab#"
    assert all(
        not isinstance(v, str) or not v.startswith("http://www.w3.org/ns/hydra/context")
        for v in terms.values()
    )
    assert terms["member"]["@id"] == "hydra:member"


def test_unknown_context_is_a_hydra_404(anon):
    r = anon.get("/contexts/Nothing.jsonld")
    assert r.status_code == 404
    assert r.get_json()["@type"] == "Error"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/vocab", 200),
        ("GET", "/no/such/thing", 404),
        ("POST", "/vocab", 405),
        ("GET", "/customers/1", 401),
        ("OPTIONS", "/customers/1/spaces/1/images/x", 200),
    ],
)
def test_every_response_links_the_documentation(anon, method, path, status):
    r = anon.request(method, path)
    assert r.status_code == status
    assert r.headers["Link"] == DOC_LINK
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Link" in r.headers["Access-Control-Expose-Headers"]
    if r.data:
        assert r.mimetype == "application/ld+json"


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/ld+json",
        "application/*",
        # (JSON-LD's own profiles, as JSON-LD clients send them)
        'application/ld+json; profile="http://www.w3.org/ns/json-ld#compacted"',
        'application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded", '
        "application/json;q=0.5",
    ],
)
def test_json_ld_is_the_default_media_type(anon, accept):
    headers = {"Accept": accept} if accept else {}
    assert anon.get("/", headers=headers).mimetype == "application/ld+json"


def test_plain_json_is_served_when_preferred(anon):
    assert anon.get("/", headers={"Accept": "application/json"}).mimetype == "application/json"


def test_public_base_url_is_used_for_every_iri(database_url, tmp_path):
    from app.factory import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "AUTO_MIGRATE": False,
            "EMBEDDED_WORKER": False,
            "PUBLIC_BASE_URL": "https://api.example.org",
        }
    )
    r = app.test_client().get("/")
    assert r.get_json()["customers"] == "https://api.example.org/customers"
    assert r.headers["Link"].startswith("<https://api.example.org/vocab>")
    dispose_app(app)


def test_preflight_is_answered(anon):
    r = anon.request(
        "OPTIONS",
        "/customers/1/spaces/1/images/x",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code == 200
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()


def test_documentation_keeps_the_older_spellings(anon):
    doc = anon.get("/vocab").get_json()
    image = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Image")
    props = {p["title"]: p for p in image["supportedProperty"]}
    assert props["width"]["readonly"] is True and props["width"]["writeonly"] is False
    assert props["initialOrigin"]["writeonly"] is True
    put = next(op for op in image["supportedOperation"] if op["method"] == "PUT")
    codes = {s["code"] for s in put["statusCodes"]}
    assert codes == {s["statusCode"] for s in put["possibleStatus"]}


def test_collection_links_say_what_their_members_are(anon):
    doc = anon.get("/vocab").get_json()
    space = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Space")
    images = next(p for p in space["supportedProperty"] if p["title"] == "images")["property"]
    assert images["memberAssertion"] == {"property": "rdf:type", "object": "vocab:Image"}
    restriction = images["range"][1]["equivalentClass"]
    assert restriction == {"onProperty": "hydra:member", "allValuesFrom": "vocab:Image"}
    expanded = anon.ld.expand(doc)[0]
    assert expanded  # the extras expand cleanly


def test_collections_assert_the_type_of_their_members(alice):
    doc = alice.get(f"/customers/{alice.customer}/spaces").get_json()
    graph = alice.ld.graph(doc)
    from rdflib import RDF, URIRef

    hydra = "http://www.w3.org/ns/hydra/core#"
    assertion = graph.value(URIRef(doc["@id"]), URIRef(hydra + "memberAssertion"))
    assert graph.value(assertion, URIRef(hydra + "property")) == RDF.type
    assert graph.value(assertion, URIRef(hydra + "object")) == URIRef(f"{BASE}/vocab#Space")


def test_documented_statuses_include_conditional_and_negotiation_failures(anon):
    doc = anon.get("/vocab").get_json()
    image = next(c for c in doc["supportedClass"] if c["@id"] == "vocab:Image")
    codes = {
        op["method"]: {s["statusCode"] for s in op["possibleStatus"]}
        for op in image["supportedOperation"]
    }
    assert 406 in codes["GET"]
    assert all(412 in codes[m] for m in ("PUT", "PATCH", "DELETE"))
