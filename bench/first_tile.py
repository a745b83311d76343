"""The first tile of an image that is only in object storage, against a tile of a cached one.

Starts an S3 server on loopback in a process of its own (moto's ``moto_server``, the S3 wire
protocol, as the tests use), ingests JPEGs of two sizes into a bucket (``DLCS_STORAGE_URL``),
then, in one process through the app's WSGI interface, round by round, with this machine's
disk cache and the process's kept pyramids emptied before each:

- the first tile: nothing of the image on this machine (its index and the tile are read);
- the first tile after its info.json (as a viewer asks: the index was read for the info.json);
- a tile once the whole pyramid is in the cache (median of 20);
- what the first tile cost before ranged reads: fetching the whole pyramid first.

Prints the medians, the ratios (target: the first tile within 3x a cached one) and how the
first tile grows with the pyramid. Usage:

    .venv/bin/python -m bench.first_tile [--rounds 7] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import boto3

from app.delivery.images import open_pyramid
from app.factory import create_app
from app.ingest.derivatives import pyramid_key
from app.storage.db import dispose
from bench.cpu import call, environ
from bench.delivery import _origin
from bench.http import answers

# moto accepts any credentials; boto3 needs some to sign with.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "dlcs-bench",
    "AWS_SECRET_ACCESS_KEY": "dlcs-bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SIZES = {"4000 x 3000": (4000, 3000), "12000 x 9000": (12000, 9000)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed(app: Any, path: str) -> float:
    started = time.perf_counter()
    status = call(app, environ("GET", path, {}))
    elapsed = time.perf_counter() - started
    assert status.startswith("200"), status
    return elapsed * 1000


def _moto(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    if answers(f"http://127.0.0.1:{port}/", server, 30):
        return server
    raise RuntimeError("moto_server did not start")


def _settle(app: Any, timeout: float = 60) -> None:
    # Wait for the background fetches of the cache to end.
    files = app.extensions["dlcs.files"]
    deadline = time.monotonic() + timeout
    while files.fetching and time.monotonic() < deadline:
        time.sleep(0.01)


def _empty(cache: Path) -> None:
    shutil.rmtree(cache)  # only the bucket has the image now
    cache.mkdir()
    open_pyramid.cache_clear()


def run(rounds: int, quick: bool = False) -> dict[str, Any]:
    """Measure; return the report."""
    os.environ.update(CREDENTIALS)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = _moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="dlcs-first-tile-"))
    cache = folder / "cache"
    sizes = dict(list(SIZES.items())[:1]) if quick else SIZES
    report: dict[str, Any] = {"rounds": rounds}
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
                "STORAGE_URL": "s3://bench/dlcs",
                "S3_ENDPOINT_URL": endpoint,
                "CACHE_DIR": str(cache),
                "ORIGIN_ALLOW_PRIVATE": True,
                "EMBEDDED_WORKER": False,
            }
        )
        made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "b"]).output)
        token = base64.b64encode(f"{made['key']}:{made['secret']}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        client, c = app.test_client(), made["id"]
        client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
        files = app.extensions["dlcs.files"]
        for n, (name, (width, height)) in enumerate(sizes.items()):
            source = folder / f"source-{n}"
            source.mkdir()
            url = _origin(source, width, height)
            doc = client.put(
                f"/customers/{c}/spaces/1/images/i{n}", json={"origin": url}, headers=headers
            ).get_json()
            assert doc["width"] == width, doc
            generation = doc_generation(app, c, f"i{n}")
            key = pyramid_key({"customer": c, "space": 1, "image": f"i{n}"}, generation)
            service = f"/iiif-img/{c}/1/i{n}"
            tile = f"{service}/1024,1024,256,256/256,/0/default.jpg"
            first, after_info, cached, whole = [], [], [], []
            for _ in range(rounds):
                _empty(cache)
                first.append(_timed(app, tile))
                _settle(app)
                cached.append(median(_timed(app, tile) for _ in range(20)))
                _empty(cache)
                _timed(app, f"{service}/info.json")
                after_info.append(_timed(app, tile))
                _settle(app)
                _empty(cache)
                started = time.perf_counter()
                files.cached(key)
                whole.append((time.perf_counter() - started) * 1000)
            pyramid = files.client.head_object(Bucket="bench", Key=files._key(key))
            report[name] = {
                "pyramid_bytes": pyramid["ContentLength"],
                "first_tile_ms": round(median(first), 2),
                "first_tile_after_info_json_ms": round(median(after_info), 2),
                "cached_tile_ms": round(median(cached), 3),
                "whole_pyramid_fetch_ms": round(median(whole), 2),
                "first / cached <= 3": round(median(first) / median(cached), 1),
                "after info.json / cached <= 3": round(median(after_info) / median(cached), 1),
            }
        dispose(app)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    return report


def doc_generation(app: Any, customer: int, image: str) -> int:
    """Return the generation of an image's registration."""
    with app.extensions["dlcs.engine"].connect() as conn:
        return conn.exec_driver_sql(
            "SELECT ingest_generation FROM images WHERE customer = ? AND image = ?",
            (customer, image),
        ).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="the smaller image only")
    args = parser.parse_args()
    report = run(args.rounds, args.quick)
    for name, value in report.items():
        if isinstance(value, dict):
            print(f"  {name}")
            for what, figure in value.items():
                print(f"    {what:34} {figure}")
        else:
            print(f"  {name:36} {value}")


if __name__ == "__main__":
    main()
