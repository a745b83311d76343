"""Real Hydra clients against the running server: Alcaeus, api-doc-parser, hydra-validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    not (NODE and (CLIENTS / "node_modules").is_dir()),
    reason="the clients are not installed (make test runs npm ci in clients/)",
)


@pytest.fixture
def server(pictured):
    return pictured


def node(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NODE, script, *args], cwd=CLIENTS, capture_output=True, text=True, timeout=120
    )


def test_alcaeus_follows_links_and_finds_operations(server):
    base, c = server["base"], server["customer"]
    run = node("alcaeus.mjs", base, server["key"], server["secret"], str(c))
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["entryPoint"]["types"] == [f"{base}/vocab#EntryPoint"]
    assert f"{base}/vocab#EntryPoint/customers" in found["entryPointLinks"]
    assert found["image"]["types"] == [f"{base}/vocab#Image"]
    assert found["imageOperations"] == ["DELETE", "GET", "PATCH", "PUT"]
    roles = next(link for link in found["imageLinks"] if link["property"].endswith("Image/roles"))
    assert roles["resources"] == [f"{base}/customers/{c}/roles/reg"]
    assert found["role"]["types"] == [f"{base}/vocab#Role"]
    assert found["policy"]["operations"] == ["GET"]
    assert found["collection"]["totalItems"] == 1
    assert found["collection"]["members"] == [f"{base}/customers/{c}/spaces/1/images/pic"]
    images = f"{base}/customers/{c}/spaces/1/images"
    assert found["page"]["id"] == images
    assert found["page"]["types"] == ["http://www.w3.org/ns/hydra/core#Collection"]
    assert found["page"]["members"] == [f"{images}/pic"]
    assert found["page"]["view"] == f"{images}?pageSize=2"
    # (the spec's 22, the 2 services, and warning)
    assert len(found["documentation"]["imageProperties"]) == 25
    assert found["documentation"]["imageOperations"] == ["DELETE", "GET", "PATCH", "PUT"]


def test_api_doc_parser_finds_the_image_resource(server):
    run = node("apidocparser.mjs", server["base"], server["key"], server["secret"])
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    image = next(r for r in found["resources"] if r["id"].endswith("vocab#Image"))
    assert "initialOrigin" in image["writable"] and "initialOrigin" not in image["readable"]
    assert "width" in image["readable"] and "width" not in image["writable"]
    assert {"origin", "roles", "tags", "number1"} <= set(image["writable"])
    assert len(image["fields"]) == 25
    assert dict(image["references"])["roles"].endswith("/roles")
    assert {"GET show", "PUT edit", "PATCH edit", "DELETE delete"} <= set(image["operations"])


def test_hydra_validator_reports_no_failure(server):
    run = node("node_modules/.bin/hydra-validator", "analyse", server["base"] + "/")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Analysis complete" in output
    assert "FAILURE" not in output and "ERROR" not in output
