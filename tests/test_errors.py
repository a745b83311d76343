"""One error path: every error, the framework's own included, is a Hydra/RFC 9457 body."""

from __future__ import annotations

import pytest

from tests.conftest import BASE

FIELDS = {"@context", "@type", "statusCode", "status", "title", "description", "detail", "instance"}


def check_error(r, status: int) -> dict:
    assert r.status_code == status
    assert r.mimetype == "application/ld+json"
    doc = r.get_json()
    assert set(doc) >= FIELDS
    assert doc["@context"] == f"{BASE}/contexts/Error.jsonld"
    assert doc["@type"] == "Error"
    assert doc["statusCode"] == doc["status"] == status
    assert doc["description"] == doc["detail"] and doc["description"]
    assert b"<html" not in r.data.lower() and b"Traceback" not in r.data
    return doc


def test_unknown_url_is_a_hydra_404(anon):
    doc = check_error(anon.get("/nothing/here"), 404)
    assert doc["title"] == "Not Found"
    assert doc["instance"] == f"{BASE}/nothing/here"


def test_wrong_method_is_a_hydra_405_with_allow(alice):
    r = alice.post(f"/customers/{alice.customer}/spaces/1/images/a", {})
    check_error(r, 405)
    assert "PUT" in r.headers["Allow"]


def test_post_to_a_space_images_collection_is_405(alice):
    check_error(alice.post(f"/customers/{alice.customer}/spaces/1/images", {}), 405)


def test_error_expands_as_a_hydra_error(anon):
    doc = anon.get("/nothing").get_json()
    expanded = anon.ld.expand(doc)[0]
    assert expanded["@type"] == ["http://www.w3.org/ns/hydra/core#Error"]
    assert expanded["http://www.w3.org/ns/hydra/core#statusCode"][0]["@value"] == 404


def test_validation_error_has_violations(alice):
    r = alice.put(f"/customers/{alice.customer}/spaces/1/images/a", {"number1": -1})
    doc = check_error(r, 400)
    assert doc["violations"] == [
        {"propertyPath": "number1", "message": "must be a non-negative integer"}
    ]
    graph = alice.ld.graph(doc)
    assert len(graph) > 8


def test_unexpected_failure_is_a_hydra_500_without_a_traceback(app, client):
    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/explode", view_func=explode)
    r = client.get("/explode")
    doc = check_error(r, 500)
    assert "secret internals" not in doc["description"]
    assert r.headers["Link"].startswith(f"<{BASE}/vocab>")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 415])
def test_every_client_error_has_the_shape(anon, alice, admin, status):
    c = alice.customer
    requests = {
        400: lambda: alice.get(f"/customers/{c}/spaces/1/images?page=x"),
        401: lambda: anon.get(f"/customers/{c}"),
        403: lambda: alice.post("/customers", {"name": "z"}),
        404: lambda: alice.get(f"/customers/{c}/roles/none"),
        405: lambda: anon.request("DELETE", "/vocab"),
        409: lambda: admin.delete(f"/customers/{c}"),
        415: lambda: alice.put(
            f"/customers/{c}/roles/r", "x", headers={"Content-Type": "text/csv"}
        ),
    }
    check_error(requests[status](), status)
