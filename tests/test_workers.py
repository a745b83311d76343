"""Scale-out: `dlcs worker` processes on a real broker (RabbitMQ), one killed mid-batch."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from app.storage.db import dispose as dispose_app
from tests.conftest import BASE, customer_with_space

BROKER = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def broker_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not broker_reachable(), reason="RabbitMQ is not running")


@pytest.fixture
def broker_app(database_url, tmp_path):
    from kombu import Connection

    from app.factory import create_app

    name = f"dlcs-test-{uuid.uuid4().hex[:8]}"
    config = {
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": False,
        "BROKER_URL": BROKER,
        "QUEUE_NAME": name,
        "STORAGE_DIR": str(tmp_path / "storage"),
        "ORIGIN_ALLOW_PRIVATE": True,
        "OUTBOX_SECONDS": 1,  # (a sweeper publishes what a dead request did not, 1 s on)
    }
    app = create_app(config)
    yield app
    dispose_app(app)
    with Connection(BROKER) as conn:
        channel = conn.channel()
        channel.queue_delete(name)


def start_worker(app, log: Path, concurrency: int = 1) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["DATABASE_URL"],
        "DLCS_BROKER_URL": BROKER,
        "DLCS_QUEUE_NAME": app.config["QUEUE_NAME"],
        "DLCS_STORAGE_DIR": app.config["STORAGE_DIR"],
        "DLCS_ORIGIN_ALLOW_PRIVATE": "true",
        "DLCS_AUTO_MIGRATE": "false",
        "DLCS_OUTBOX_SECONDS": str(app.config["OUTBOX_SECONDS"]),
    }
    command = [str(Path(sys.executable).parent / "dlcs"), "worker", "-c", str(concurrency)]
    return subprocess.Popen(
        command,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(predicate, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_killed_worker_loses_nothing_and_counts_stay_exact(broker_app, origin, tmp_path):
    api = customer_with_space(broker_app, "scale")
    c = api.customer
    count = 30
    members = [
        {"id": f"w{i:02}", "space": 1, "origin": origin.url("delay/150/photo.jpg")}
        for i in range(count)
    ]
    batch = api.post(f"/customers/{c}/queue", {"member": members}).get_json()
    path = batch["@id"].removeprefix(BASE)

    def completed() -> int:
        return api.get(path).get_json()["completed"]

    first = start_worker(broker_app, tmp_path / "first.log", concurrency=2)
    try:
        assert wait_for(lambda: completed() >= 4), "the first worker ingested nothing"
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert completed() < count, "the batch finished before the worker could be killed"
    # Two more workers on the same host share what is left.
    logs = [tmp_path / "second.log", tmp_path / "third.log"]
    others = [start_worker(broker_app, log) for log in logs]
    try:
        assert wait_for(lambda: "finished" in api.get(path).get_json(), 90)
    finally:
        for worker in others:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in others:
            worker.wait(timeout=30)
    for log in logs:
        assert "succeeded" in log.read_text(), f"{log.name}: this worker ingested nothing"
    done = api.get(path).get_json()
    assert (done["count"], done["completed"], done["errors"], done["superseded"]) == (
        count,
        count,
        0,
        0,
    )
    listed = api.get(f"/customers/{c}/spaces/1/images?pageSize=100").get_json()
    assert all(m["width"] == 640 and m["ingesting"] is False for m in listed["member"])
    assert origin.hits["/delay/150/photo.jpg"] >= count


def test_jobs_committed_but_never_published_are_published_by_a_worker(broker_app, tmp_path, origin):
    """A web process that dies between its commit and its publishing loses no image."""
    from app.api.ingest import create_batch
    from app.storage.db import connection

    api = customer_with_space(broker_app, "outbox")
    c = api.customer
    count = 12
    members = [
        {"id": f"o{i:02}", "space": 1, "origin": origin.url("photo.jpg")} for i in range(count)
    ]
    with broker_app.test_request_context(f"/customers/{c}/queue", method="POST"):
        number, _publish = create_batch(connection(), c, {"member": members})
        # Committed: the process dies here, before ``_publish`` runs.
    path = f"/customers/{c}/queue/batches/{number}"
    time.sleep(1.5)  # (the request's time to publish has passed)
    assert api.get(path).get_json()["completed"] == 0
    worker = start_worker(broker_app, tmp_path / "worker.log")
    try:
        assert wait_for(lambda: "finished" in api.get(path).get_json(), 90), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    done = api.get(path).get_json()
    assert (done["count"], done["completed"], done["errors"]) == (count, count, 0)
