"""CPU time per request of the server, the least read and write and the bare app, in one process.

The apps are called as WSGI applications, one request after another, with no gunicorn, no
load generator and nothing else competing for the cores: a steadier figure than the HTTP
benchmark's (which moves by a tenth from run to run on a shared machine), for telling small
changes apart. On PostgreSQL it includes the driver's side of each round trip, not the
server's work or the wait. Usage:

    .venv/bin/python -m bench.cpu [--database sqlite postgresql] [--requests N]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.factory import create_app
from app.storage.db import dispose
from bench import least
from bench.bare import app as bare
from bench.http import PG_SERVER, seed
from bench.ingest import fresh_database

WSGI = Callable[[dict[str, Any], Callable[..., Any]], Any]


def environ(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    """Return the WSGI environment of a request to 127.0.0.1:8000."""
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    if body:
        env["CONTENT_TYPE"] = "application/ld+json"
    env.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return env


def call(app: WSGI, env: dict[str, Any]) -> str:
    """Run one request through ``app``; return its status line."""
    status = []
    result = app(env, lambda s, _headers, _exc=None: status.append(s))
    try:
        b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return status[0]


def cpu_per_request(app: WSGI, request: Callable[[int], dict[str, Any]], count: int) -> float:
    """Return the median over three runs of the CPU microseconds per request."""
    for n in range(min(count, 300)):  # warm up: imports, connections, caches
        status = call(app, request(n))
        if not status.startswith("2"):
            raise RuntimeError(f"the warm-up request answered {status}")
    runs = []
    for _ in range(3):
        started = time.process_time()
        for n in range(count):
            call(app, request(n))
        runs.append((time.process_time() - started) / count * 1e6)
    return statistics.median(runs)


def run(database: str, count: int) -> dict[str, float]:
    """Measure the three apps on a fresh database of ``database``; return µs per request."""
    folder = Path(tempfile.mkdtemp(prefix="dlcs-cpu-"))
    url, drop = fresh_database(PG_SERVER if database == "postgresql" else None, folder)
    try:
        data = seed(url, 1_000, 1_000)
        c, auth = data["customer"], {"Authorization": data["auth"]}
        server = create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False, "EMBEDDED_WORKER": False})
        reference = least.create_app(url)

        def put(n: int) -> dict[str, Any]:
            # As the HTTP benchmark's PUT: every request changes the image.
            body = {"string1": f"bench {n}", "number1": n, "tags": ["a", "b"]}
            path = f"/customers/{c}/spaces/1/images/i{n % 1000:07d}"
            return environ("PUT", path, auth, json.dumps(body).encode())

        def get(_n: int) -> dict[str, Any]:
            return environ("GET", f"/customers/{c}/spaces/1/images/i0000042", auth)

        return {
            "bare app (fixed bytes)": cpu_per_request(bare, get, count),
            "least read (GET)": cpu_per_request(reference, get, count),
            "GET image": cpu_per_request(server, get, count),
            "least write (PUT)": cpu_per_request(reference, put, count),
            "PUT image (no origin)": cpu_per_request(server, put, count),
        }
    finally:
        if "server" in locals():
            dispose(server)
        if "reference" in locals():
            for engine in reference.extensions["least.engines"]:
                engine.dispose()
        drop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--requests", type=int, default=3000, help="per run (three runs each)")
    args = parser.parse_args()
    for database in args.database:
        results = run(database, args.requests)
        print(f"\n{database}: CPU µs per request, one process, median of three runs")
        for name, micros in results.items():
            print(f"  {name:28} {micros:7.0f}")


if __name__ == "__main__":
    main()
