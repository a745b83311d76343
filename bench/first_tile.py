"""The first tile of an image that is only in object storage, against a tile of a cached one.

Starts an S3 server on loopback (moto's, the S3 wire protocol, as the tests use), ingests a
4000 x 3000 JPEG into a bucket (``DLCS_STORAGE_URL``), then, in one process through the app's
WSGI interface, times a tile request right after this machine's disk cache was emptied (the
pyramid must come from the bucket) and the same request once it is cached, round by round.
Prints the medians and their ratio, the target being at most 3. Usage:

    .venv/bin/python -m bench.first_tile [--rounds 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from app import create_app
from app.delivery.images import open_pyramid
from app.storage.db import dispose
from bench.cpu import call, environ
from bench.delivery import WIDTH, _origin

# moto accepts any credentials; boto3 needs some to sign with.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "dlcs-bench",
    "AWS_SECRET_ACCESS_KEY": "dlcs-bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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


def run(rounds: int) -> dict[str, Any]:
    """Measure; return the report."""
    os.environ.update(CREDENTIALS)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # (the S3 server's request lines)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="dlcs-first-tile-"))
    cache = folder / "cache"
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
        doc = client.put(
            f"/customers/{c}/spaces/1/images/big",
            json={"origin": _origin(folder)},
            headers=headers,
        ).get_json()
        assert doc["width"] == WIDTH, doc
        tile = f"/iiif-img/{c}/1/big/1024,1024,256,256/256,/0/default.jpg"
        first, cached = [], []
        for _ in range(rounds):
            shutil.rmtree(cache)  # only the bucket has the pyramid now
            cache.mkdir()
            open_pyramid.cache_clear()
            first.append(_timed(app, tile))
            cached.append(median(_timed(app, tile) for _ in range(20)))
        pyramid = sum(p.stat().st_size for p in cache.iterdir())
        dispose(app)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "rounds": rounds,
        "pyramid_bytes": pyramid,
        "first_tile_ms": round(median(first), 2),
        "cached_tile_ms": round(median(cached), 2),
    }
    report["first / cached <= 3"] = round(median(first) / median(cached), 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    report = run(parser.parse_args().rounds)
    for name, value in report.items():
        print(f"  {name:28} {value}")


if __name__ == "__main__":
    main()
