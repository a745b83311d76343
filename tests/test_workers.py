"""Scale-out: `dlcs worker` processes on a real broker (RabbitMQ), one killed mid-batch."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from app.storage.db import dispose as dispose_app
from tests import media
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
        "DLCS_BROKER_URL": app.config["BROKER_URL"],
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


def test_a_worker_killed_mid_transcode_leaves_nothing_half_made_and_it_runs_again(
    broker_app, origin, tmp_path
):
    media.video(origin.folder / "long.mpg", 16.0, (1280, 720))
    api = customer_with_space(broker_app, "av")
    c = api.customer
    path = f"/customers/{c}/spaces/1/images/long"
    body = {"origin": origin.url("long.mpg"), "family": "T"}
    assert api.put(path, body).status_code == 202
    storage = Path(broker_app.config["STORAGE_DIR"])

    def made(under: str) -> list[Path]:
        return list((storage / under).rglob("default.mp4")) if (storage / under).exists() else []

    first = start_worker(broker_app, tmp_path / "first.log")
    try:
        assert wait_for(lambda: made(".work"), 60), "the first worker never began the transcode"
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # (the worker and its transcoding child)
        first.wait()
    assert api.get(path).get_json()["ingesting"] is True
    assert made("derivatives") == []  # (nothing half-made where delivery looks)
    assert (
        broker_app.test_client()
        .get(f"/iiif-av/{c}/1/long/full/full/max/max/0/default.mp4")
        .status_code
        == 404
    )
    second = start_worker(broker_app, tmp_path / "second.log")
    try:
        assert wait_for(lambda: api.get(path).get_json()["ingesting"] is False, 120)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    doc = api.get(path).get_json()
    assert doc["error"] == "" and (doc["width"], doc["height"]) == (1280, 720)
    assert 15_900 <= doc["duration"] <= 16_200
    assert len(made("derivatives")) == 1  # (one transcode, of the one registration)
    r = broker_app.test_client().get(f"/iiif-av/{c}/1/long/full/full/max/max/0/default.mp4")
    assert r.status_code == 200 and len(r.data) == int(r.headers["Content-Length"])


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RabbitNode:
    """A RabbitMQ node of the test's own (its own name, ports and folders), to restart at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port, dist = free_port(), free_port()
        name = f"dlcs{uuid.uuid4().hex[:8]}@localhost"
        (folder / "rabbitmq.conf").write_text("")
        (folder / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(folder),  # (its Erlang cookie)
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",  # (not the machine's node's settings)
            "RABBITMQ_NODENAME": name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(folder / "plugins"),
            "RABBITMQ_PID_FILE": str(folder / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.process: subprocess.Popen | None = None
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [RABBITMQ_SERVER],
            env=self.env,
            stdout=(self.folder / "server.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert wait_for(self.listening, 60), (self.folder / "server.log").read_text()[-3000:]

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)  # (a clean stop: queues kept on disk)
            self.process.wait(timeout=60)
            self.process = None


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


@pytest.fixture
def rabbit(tmp_path) -> Iterator[RabbitNode]:
    if not Path(RABBITMQ_SERVER).exists():
        pytest.skip("RabbitMQ's server is not installed")
    node = RabbitNode(tmp_path / "rabbit")
    node.start()
    yield node
    node.stop()


def _logged(log: Path, words: str) -> list[datetime]:
    """When the worker logged lines holding ``words`` (Celery's [date time,ms: ...] prefix)."""
    found = []
    for line in log.read_text().splitlines():
        if words in line and line.startswith("["):
            found.append(datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f"))
    return found


def test_ingest_goes_on_within_seconds_of_a_broker_restart(rabbit, database_url, origin, tmp_path):
    """RabbitMQ restarted under a running batch: the worker consumes again at once."""
    from app.factory import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "AUTO_MIGRATE": False,
            "BROKER_URL": rabbit.url,
            "QUEUE_NAME": "dlcs-restart",
            "STORAGE_DIR": str(tmp_path / "storage"),
            "ORIGIN_ALLOW_PRIVATE": True,
            "OUTBOX_SECONDS": 1,
        }
    )
    api = customer_with_space(app, "restart")
    c, count = api.customer, 24
    # (each job waits 0.8 s on its origin: both of the worker's threads are busy when the
    # broker goes, and their jobs end while it is away)
    members = [
        {"id": f"r{i:02}", "space": 1, "origin": origin.url("delay/800/photo.jpg")}
        for i in range(count)
    ]
    path = api.post(f"/customers/{c}/queue", {"member": members}).get_json()["@id"]
    path = path.removeprefix(BASE)
    log = tmp_path / "worker.log"
    worker = start_worker(app, log, concurrency=2)
    try:
        assert wait_for(lambda: api.get(path).get_json()["completed"] >= 2), log.read_text()
        rabbit.stop()
        time.sleep(3)
        rabbit.start()
        back = datetime.now()
        assert wait_for(lambda: "finished" in api.get(path).get_json(), 60), log.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        dispose_app(app)
    done = api.get(path).get_json()
    assert (done["completed"], done["errors"]) == (count, 0)
    # The gap: from the broker's being back to the worker's taking jobs again, and any pause
    # between two jobs taken after that (a job takes about 1 s here).
    reconnected = _logged(log, "Connected to amqp")[-1]
    received = [t for t in _logged(log, "received") if t > reconnected]
    assert received, log.read_text()[-3000:]
    pauses = [(b - a).total_seconds() for a, b in itertools.pairwise(received)]
    gap = (received[0] - back).total_seconds()
    print(f"\n  jobs taken again {gap:.2f} s after the broker was back; longest pause then "
          f"{max(pauses, default=0):.2f} s")  # fmt: skip
    assert gap < 10 and max(pauses, default=0) < 10, log.read_text()[-3000:]
