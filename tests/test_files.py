"""Derivatives in an S3-compatible bucket: a real S3 wire-protocol server on loopback (moto's),
a bounded cache on each machine's disk, and a web process and a worker that share nothing but
the bucket (and the database)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

from app.storage.files import BucketFiles
from tests.conftest import BASE, customer_with_space


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "dlcs-test",
    "AWS_SECRET_ACCESS_KEY": "dlcs-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3 server (moto's, the S3 wire protocol) on loopback for the run."""
    from moto.server import ThreadedMotoServer

    os.environ.update(CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint) -> str:
    """A new empty bucket; its name."""
    name = f"dlcs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def objects(endpoint: str, bucket: str) -> list[str]:
    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", ()))


def test_files_are_published_read_and_removed(s3_endpoint, bucket, tmp_path):
    files = BucketFiles(
        f"s3://{bucket}/pre", endpoint=s3_endpoint, cache_dir=tmp_path / "c", cache_bytes=2**20
    )
    for generation in ("1", "2"):
        folder = files.work_folder()
        (folder / "thumbs").mkdir()
        (folder / "thumbs" / "100.jpg").write_bytes(b"jpeg " + generation.encode())
        (folder / "pyramid.tif").write_bytes(b"tiff " + generation.encode())
        files.publish(folder, f"d/x/{generation}")
        assert not folder.exists()
    assert objects(s3_endpoint, bucket) == [
        "pre/d/x/1/pyramid.tif",
        "pre/d/x/1/thumbs/100.jpg",
        "pre/d/x/2/pyramid.tif",
        "pre/d/x/2/thumbs/100.jpg",
    ]
    assert files.read("d/x/2/thumbs/100.jpg") == b"jpeg 2"
    opened = files.open("d/x/1/pyramid.tif")
    assert opened is not None and opened.read() == b"tiff 1"
    opened.close()
    assert files.read("d/x/3/pyramid.tif") is None and files.open("d/x/3/pyramid.tif") is None
    files.remove("d/x", keep="2")
    assert objects(s3_endpoint, bucket) == ["pre/d/x/2/pyramid.tif", "pre/d/x/2/thumbs/100.jpg"]
    assert files.read("d/x/1/pyramid.tif") is None  # (gone from this machine's cache too)
    files.remove("d/x")
    assert objects(s3_endpoint, bucket) == []


def test_what_was_read_once_is_read_from_the_local_cache(s3_endpoint, bucket, tmp_path):
    files = BucketFiles(
        f"s3://{bucket}", endpoint=s3_endpoint, cache_dir=tmp_path / "c", cache_bytes=2**20
    )
    folder = files.work_folder()
    (folder / "a").write_bytes(b"a" * 1000)
    files.publish(folder, "p")
    assert files.read("p/a") == b"a" * 1000
    boto3.client("s3", endpoint_url=s3_endpoint).delete_object(Bucket=bucket, Key="p/a")
    assert files.read("p/a") == b"a" * 1000  # (from the cache: the bucket has it no more)


def test_a_part_not_cached_is_read_alone_and_the_file_fetched_behind_it(
    s3_endpoint, bucket, tmp_path
):
    files = BucketFiles(
        f"s3://{bucket}", endpoint=s3_endpoint, cache_dir=tmp_path / "c", cache_bytes=2**24
    )
    folder = files.work_folder()
    data = os.urandom(3_000_000)
    (folder / "pyramid.tif").write_bytes(data)
    files.publish(folder, "p")
    assert files.cache.get("p/pyramid.tif") is None
    assert files.read_range("p/pyramid.tif", 1_000_000, 5000) == data[1_000_000:1_005_000]
    deadline = time.monotonic() + 10
    while files.fetching and time.monotonic() < deadline:
        time.sleep(0.01)
    cached = files.cache.get("p/pyramid.tif")
    assert cached is not None and cached.read_bytes() == data  # (fetched whole, behind it)
    boto3.client("s3", endpoint_url=s3_endpoint).delete_object(Bucket=bucket, Key="p/pyramid.tif")
    assert files.read_range("p/pyramid.tif", 10, 20) == data[10:30]  # (from the cache now)
    assert files.read_range("p/other.tif", 0, 10) is None


def test_the_cache_keeps_within_its_size_least_recently_used_out_first(
    s3_endpoint, bucket, tmp_path
):
    files = BucketFiles(
        f"s3://{bucket}", endpoint=s3_endpoint, cache_dir=tmp_path / "c", cache_bytes=350_000
    )
    folder = files.work_folder()
    for name in "abcdef":
        (folder / name).write_bytes(os.urandom(100_000))
    files.publish(folder, "p")
    for name in "abc":
        assert files.read(f"p/{name}") is not None
        time.sleep(0.02)
    files.read("p/a")  # (used again: b is now the least recently used)
    time.sleep(0.02)
    files.read("p/d")  # (past the limit: b goes, which leaves a tenth free)
    assert [files.cache.get(f"p/{n}") is not None for n in "abcd"] == [True, False, True, True]
    assert sum(path.stat().st_size for path in (tmp_path / "c").iterdir()) <= 350_000 * 0.9


@pytest.fixture
def bucket_app(database_url, tmp_path, s3_endpoint, bucket):
    """An app whose derivatives are in the bucket; what its machine keeps is in tmp/web."""
    yield from _bucket_app(database_url, tmp_path, s3_endpoint, bucket, {})


@pytest.fixture
def small_cache_app(database_url, tmp_path, s3_endpoint, bucket):
    """The same, with a cache smaller than one pyramid of tests/conftest's photo."""
    yield from _bucket_app(database_url, tmp_path, s3_endpoint, bucket, {"CACHE_MB": 0.01})


def _bucket_app(database_url, tmp_path, s3_endpoint, bucket, more):
    from app.factory import create_app
    from app.storage.db import dispose

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "AUTO_MIGRATE": False,
            "EMBEDDED_WORKER": False,
            "STORAGE_URL": f"s3://{bucket}/dlcs",
            "S3_ENDPOINT_URL": s3_endpoint,
            "CACHE_DIR": str(tmp_path / "web" / "cache"),
            "STORAGE_DIR": str(tmp_path / "web" / "storage"),
            "ORIGIN_ALLOW_PRIVATE": True,
            **more,
        }
    )
    yield app
    dispose(app)


def test_an_image_ingested_into_the_bucket_is_served_from_it(
    bucket_app, origin, s3_endpoint, bucket, tmp_path
):
    api = customer_with_space(bucket_app, "bucketed")
    client, c = api.client, api.customer
    doc = api.put(
        f"/customers/{c}/spaces/1/images/b", {"origin": origin.url("photo.jpg")}
    ).get_json()
    assert doc["width"] == 640, doc
    stored = objects(s3_endpoint, bucket)
    assert any(k.endswith("/pyramid.tif") for k in stored) and any("/thumbs/" in k for k in stored)
    assert not (tmp_path / "web" / "storage" / "derivatives").exists()
    tile = client.get(f"/iiif-img/{c}/1/b/0,0,256,256/256,/0/default.jpg")
    assert tile.status_code == 200 and tile.mimetype == "image/jpeg"
    thumb = client.get(f"/thumbs/{c}/1/b/full/max/0/default.jpg")
    assert thumb.status_code == 200
    assert api.delete(f"/customers/{c}/spaces/1/images/b").status_code == 205
    assert objects(s3_endpoint, bucket) == []


def test_a_transcode_and_a_file_are_streamed_from_the_bucket_by_ranged_gets(
    bucket_app, origin, s3_endpoint, bucket, tmp_path
):
    api = customer_with_space(bucket_app, "bucketed-av")
    client, c = api.client, api.customer
    body = {"origin": origin.url("clip.mpg"), "family": "T"}
    assert api.put(f"/customers/{c}/spaces/1/images/v", body).status_code == 202
    body = {"origin": origin.url("doc.pdf"), "family": "F"}
    assert api.put(f"/customers/{c}/spaces/1/images/f", body).status_code == 201
    bucket_app.extensions["dlcs.queue"].drain()
    stored = objects(s3_endpoint, bucket)
    assert sorted(k.rsplit("/", 1)[1] for k in stored) == ["default.mp4", "file"]
    video = f"/iiif-av/{c}/1/v/full/full/max/max/0/default.mp4"
    whole = client.get(video)
    key = next(k for k in stored if k.endswith("default.mp4"))
    expected = boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=bucket, Key=key)
    assert whole.status_code == 200 and whole.data == expected["Body"].read()
    part = client.get(video, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.data == whole.data[1000:2000]
    tail = client.get(video, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == whole.data[-10:]
    # (read from the bucket as asked: nothing of a recording is kept on this machine's disk)
    cache = tmp_path / "web" / "cache"
    assert not cache.exists() or not [p for p in cache.iterdir() if not p.name.startswith(".")]
    r = client.get(f"/file/{c}/1/f")
    assert r.status_code == 200 and r.data == (origin.folder / "doc.pdf").read_bytes()
    for image in ("v", "f"):
        assert api.delete(f"/customers/{c}/spaces/1/images/{image}").status_code == 205
    assert objects(s3_endpoint, bucket) == []
    assert client.get(video).status_code == 404


def test_a_web_process_and_a_worker_share_nothing_but_the_bucket(
    bucket_app, origin, s3_endpoint, bucket, tmp_path
):
    """The worker (another process, its own folders) ingests; the web serves what it made."""
    api = customer_with_space(bucket_app, "shared")
    client, c = api.client, api.customer
    members = [{"id": f"w{i}", "space": 1, "origin": origin.url("photo.jpg")} for i in range(3)]
    batch = api.post(f"/customers/{c}/queue", {"member": members}).get_json()
    env = {
        **os.environ,
        **CREDENTIALS,
        "DATABASE_URL": bucket_app.config["DATABASE_URL"],
        "DLCS_AUTO_MIGRATE": "false",
        "DLCS_STORAGE_URL": bucket_app.config["STORAGE_URL"],
        "DLCS_S3_ENDPOINT_URL": s3_endpoint,
        "DLCS_CACHE_DIR": str(tmp_path / "worker" / "cache"),
        "DLCS_STORAGE_DIR": str(tmp_path / "worker" / "storage"),
        "DLCS_ORIGIN_ALLOW_PRIVATE": "true",
    }
    env.pop("DLCS_BROKER_URL", None)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "dlcs"), "worker", "-c", "1"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        path = batch["@id"].removeprefix(BASE)
        deadline = time.monotonic() + 60
        while "finished" not in api.get(path).get_json():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert api.get(path).get_json()["completed"] == 3
    assert not (tmp_path / "worker" / "storage" / "derivatives").exists()
    for i in range(3):
        r = client.get(f"/iiif-img/{c}/1/w{i}/full/100,/0/default.jpg")
        assert r.status_code == 200, r.get_json()
    assert not (tmp_path / "web" / "storage" / "derivatives").exists()


def test_a_pyramid_evicted_while_it_is_read_is_read_all_the_same(small_cache_app, origin):
    """Regions of three images read at once through a cache smaller than one: each read
    evicts the others' files, and every one of them is still answered."""
    api = customer_with_space(small_cache_app, "evicted")
    c = api.customer
    for name in "abc":
        r = api.put(f"/customers/{c}/spaces/1/images/{name}", {"origin": origin.url("photo.jpg")})
        assert r.get_json()["width"] == 640, r.get_json()
    cache = Path(small_cache_app.config["CACHE_DIR"])
    failures: list[tuple[int, str]] = []

    def read(name: str) -> None:
        client = small_cache_app.test_client()
        for i in range(40):
            r = client.get(f"/iiif-img/{c}/1/{name}/full/{100 + i},/0/default.jpg")
            if r.status_code != 200:
                failures.append((r.status_code, r.get_data(as_text=True)[:200]))

    threads = [threading.Thread(target=read, args=(name,)) for name in "abcabc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Still bounded: once the reads are over, one more keeps no more than the file it read
    # (a file larger than the whole cache is kept alone).
    client = small_cache_app.test_client()
    assert client.get(f"/iiif-img/{c}/1/a/full/99,/0/default.jpg").status_code == 200
    sizes = [p.stat().st_size for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(sizes) == 1, sizes
