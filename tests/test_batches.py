"""Batch mode: a collection POSTed to the queue, ingested in the background, counted exactly."""

from __future__ import annotations

import time

import pytest

from app.storage.db import dispose as dispose_app
from tests.conftest import BASE


def queue(api) -> str:
    return f"/customers/{api.customer}/queue"


def member(origin, image: str, name: str = "small.jpg", **extra) -> dict:
    return {"id": image, "space": 1, "origin": origin.url(name), **extra}


def submit(api, members: list[dict]):
    return api.post(queue(api), {"@type": "Collection", "member": members})


def drain(app) -> int:
    return app.extensions["dlcs.queue"].drain()


def test_batch_is_created_then_ingested(app, alice, origin):
    r = submit(alice, [member(origin, f"b{i}", string1=f"s{i}") for i in range(3)])
    assert r.status_code == 201
    batch = r.get_json()
    assert r.headers["Location"] == batch["@id"]
    assert batch["@id"] == f"{BASE}/customers/{alice.customer}/queue/batches/1"
    assert (batch["count"], batch["completed"], batch["errors"], batch["superseded"]) == (
        3,
        0,
        0,
        0,
    )
    assert "finished" not in batch
    image = alice.get(f"/customers/{alice.customer}/spaces/1/images/b0").get_json()
    assert image["ingesting"] is True and image["batch"] == 1 and image["string1"] == "s0"
    assert drain(app) == 3
    batch = alice.get(batch["@id"].removeprefix(BASE)).get_json()
    assert (batch["completed"], batch["errors"]) == (3, 0)
    assert batch["finished"] >= batch["submitted"]
    image = alice.get(f"/customers/{alice.customer}/spaces/1/images/b2").get_json()
    assert (image["width"], image["ingesting"], image["batch"]) == (50, False, 1)


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"number1": -1}, "member[1].number1"),
        ({"orign": "x"}, "member[1].orign"),
        ({"space": 9}, "member[1].space"),
        ({"space": "1"}, "member[1].space"),
        ({"id": ""}, "member[1].id"),
        ({"origin": ""}, "member[1].origin"),
        ({"width": 5}, "member[1].width"),
        ({"id": "m0"}, "member[1].id"),
    ],
)
def test_one_bad_member_rejects_the_batch_and_stores_nothing(app, alice, origin, bad, path):
    members = [member(origin, "m0"), {**member(origin, "m1"), **bad}, member(origin, "m2")]
    r = submit(alice, members)
    assert r.status_code == 400
    assert path in [v["propertyPath"] for v in r.get_json()["violations"]]
    assert alice.get(f"/customers/{alice.customer}/spaces/1/images").get_json()["totalItems"] == 0
    assert alice.get(f"{queue(alice)}/batches").get_json()["totalItems"] == 0
    assert drain(app) == 0


@pytest.mark.parametrize("body", [{}, {"member": []}, {"member": "x"}, {"member": [1]}])
def test_batch_body_must_hold_members(alice, body):
    assert alice.post(queue(alice), body).status_code == 400


def test_failed_images_are_counted_and_can_be_retried(app, alice, origin):
    members = [member(origin, "ok"), member(origin, "bad", "status/404")]
    batch = submit(alice, members).get_json()
    drain(app)
    path = batch["@id"].removeprefix(BASE)
    batch = alice.get(path).get_json()
    assert (batch["completed"], batch["errors"]) == (1, 1)
    failed = alice.get(f"{path}/images?hasError=true").get_json()
    assert [m["@id"].rsplit("/", 1)[1] for m in failed["member"]] == ["bad"]
    fine = alice.get(f"{path}/images?hasError=false").get_json()
    assert [m["@id"].rsplit("/", 1)[1] for m in fine["member"]] == ["ok"]
    hits = origin.hits["/status/404"]
    r = alice.post(path)
    assert r.status_code == 202
    assert r.get_json()["errors"] == 0 and "finished" not in r.get_json()
    assert drain(app) == 1
    assert origin.hits["/status/404"] == hits + 1
    assert alice.get(path).get_json()["errors"] == 1


def test_registering_again_supersedes(app, alice, origin):
    first = submit(alice, [member(origin, "a"), member(origin, "b")]).get_json()
    second = submit(alice, [member(origin, "b")]).get_json()
    drain(app)
    first = alice.get(first["@id"].removeprefix(BASE)).get_json()
    assert (first["count"], first["completed"], first["superseded"]) == (2, 1, 1)
    second = alice.get(second["@id"].removeprefix(BASE)).get_json()
    assert (second["completed"], second["superseded"]) == (1, 0)
    alice.put(f"/customers/{alice.customer}/spaces/1/images/a", {"origin": origin.url("small.jpg")})
    assert alice.get(first["@id"].removeprefix(BASE)).get_json()["superseded"] == 2


def test_queue_counts_what_is_waiting(app, alice, origin):
    submit(alice, [member(origin, f"q{i}") for i in range(4)])
    doc = alice.get(queue(alice)).get_json()
    assert doc["@type"] == "Queue"
    assert (doc["size"], doc["batchesWaiting"]) == (4, 1)
    assert doc["batches"] == f"{BASE}{queue(alice)}/batches"
    drain(app)
    doc = alice.get(queue(alice)).get_json()
    assert (doc["size"], doc["batchesWaiting"]) == (0, 0)


def test_customer_links_to_its_queue(alice):
    doc = alice.get(f"/customers/{alice.customer}").get_json()
    assert doc["queue"] == f"{BASE}{queue(alice)}"
    assert alice.get(queue(alice)).status_code == 200


def test_batches_collection(app, alice, origin):
    for _ in range(2):
        submit(alice, [member(origin, "x")])
    doc = alice.get(f"{queue(alice)}/batches").get_json()
    assert doc["totalItems"] == 2
    assert [m["count"] for m in doc["member"]] == [1, 1]
    assert all("completed" in m for m in doc["member"])


def test_five_hundred_images_in_one_request(app, alice, origin):
    r = submit(alice, [member(origin, f"n{i:03}") for i in range(500)])
    assert r.status_code == 201
    assert r.get_json()["count"] == 500
    assert drain(app) == 500
    batch = alice.get(r.get_json()["@id"].removeprefix(BASE)).get_json()
    assert (batch["completed"], batch["errors"], batch["superseded"]) == (500, 0, 0)
    listed = alice.get(f"/customers/{alice.customer}/spaces/1/images?pageSize=500").get_json()
    assert all(m["width"] == 50 and m["batch"] == 1 for m in listed["member"])


def test_the_server_processes_its_queue_in_a_thread(app, alice, origin):
    app.config["EMBEDDED_WORKER"] = True
    worker = app.extensions["dlcs.queue"]
    worker.start()
    batch = submit(alice, [member(origin, f"t{i}") for i in range(5)]).get_json()
    path = batch["@id"].removeprefix(BASE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "finished" not in alice.get(path).get_json():
        time.sleep(0.1)
    assert alice.get(path).get_json()["completed"] == 5


def test_nothing_queued_is_lost_across_a_restart(app, alice, origin, database_url):
    from app.factory import create_app

    batch = submit(alice, [member(origin, f"r{i}") for i in range(3)]).get_json()
    restarted = create_app(
        {
            **{k: app.config[k] for k in ("STORAGE_DIR", "ORIGIN_ALLOW_PRIVATE")},
            "DATABASE_URL": database_url,
            "AUTO_MIGRATE": False,
            "EMBEDDED_WORKER": False,
        }
    )
    try:
        assert restarted.extensions["dlcs.queue"].drain() == 3
    finally:
        dispose_app(restarted)
    assert alice.get(batch["@id"].removeprefix(BASE)).get_json()["completed"] == 3


def test_queue_is_private_to_its_customer(alice, bob, origin):
    assert bob.get(queue(alice)).status_code == 401
    assert bob.post(queue(alice), {"member": [member(origin, "x")]}).status_code == 401
