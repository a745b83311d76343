"""OpenAPI: generated from the vocabulary, and fuzzed by schemathesis against the running app."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import BASE, basic, make_customer
from vocab import dlcs
from vocab.openapi import openapi


def test_openapi_is_served_as_json(anon):
    r = anon.get("/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": BASE}]


def test_every_class_path_and_operation_is_described(anon):
    paths = anon.get("/openapi.json").get_json()["paths"]
    for cls in dlcs.CLASSES:
        if cls.path and cls.operations:
            assert {op.method.lower() for op in cls.operations} <= set(paths[cls.path])
        for prop in cls.collections:
            assert {op.method.lower() for op in prop.operations} <= set(paths[prop.path])
    image = anon.get("/openapi.json").get_json()["components"]["schemas"]["Image"]
    assert image["properties"]["width"]["readOnly"] is True
    assert image["properties"]["initialOrigin"]["writeOnly"] is True
    assert image["properties"]["number1"]["minimum"] == 0


LABELS = [
    op.ok().label for op in schemathesis.openapi.from_dict(openapi(BASE)).get_all_operations()
]


@pytest.fixture
def fuzz_headers(app, runner):
    made = make_customer(runner, "fuzz-admin", admin=True)
    client = app.test_client()
    headers = basic(made["key"], made["secret"])
    client.put(f"/customers/{made['id']}/spaces/1", json={"name": "s"}, headers=headers)
    client.put(f"/customers/{made['id']}/roles/reg", json={}, headers=headers)
    return headers


@pytest.mark.parametrize("label", LABELS)
def test_no_server_error_and_responses_match_the_schema(app, fuzz_headers, label):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def fuzz(case) -> None:
        case.call_and_validate(headers=fuzz_headers, checks=checks)

    fuzz()
