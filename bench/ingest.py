"""Ingest throughput: 1,000 images of 2000x1500 JPEG, with thumbnails, by 1 and by 2 workers.

Each run registers the images as one batch through the queue, starts N ``dlcs worker``
processes against the same database, and times until the batch has finished; the origins
are served by a real HTTP server on loopback. Usage:

    .venv/bin/python -m bench.ingest [--count 1000] [--workers 1 2] [--database URL] [--broker URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.storage.db import dispose as dispose_app

RESULTS = Path(__file__).parent / "results"


def jpeg(width: int, height: int) -> bytes:
    """Return a photo-like JPEG (a gradient with detail, so it compresses like a photo)."""
    image = Image.effect_mandelbrot((width, height), (-2.0, -1.2, 1.0, 1.2), 100).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def serve(body: bytes) -> http.server.ThreadingHTTPServer:
    """Serve ``body`` at every path, on a free loopback port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fresh_database(url: str | None, folder: Path) -> tuple[str, Any]:
    """Return the URL of an empty database (and how to drop it afterwards)."""
    if not url:
        return f"sqlite:///{folder / 'bench.sqlite3'}", lambda: None
    name = f"dlcs_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return make_url(url).set(database=name).render_as_string(hide_password=False), drop


def run(count: int, workers: int, database: str | None, broker: str | None, body: bytes) -> dict:
    """Time one batch of ``count`` images ingested by ``workers`` worker processes."""
    from app.factory import create_app
    from app.storage.db import make_engine, upgrade

    folder = Path(tempfile.mkdtemp(prefix="dlcs-bench-"))
    url, drop = fresh_database(database, folder)
    server = serve(body)
    queue_name = f"dlcs-bench-{uuid.uuid4().hex[:8]}"
    config = {
        "DATABASE_URL": url,
        "AUTO_MIGRATE": False,
        "EMBEDDED_WORKER": False,
        "STORAGE_DIR": str(folder / "storage"),
        "ORIGIN_ALLOW_PRIVATE": True,
        "BROKER_URL": broker,
        "QUEUE_NAME": queue_name,
    }
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(config)
    made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "bench"]).output)
    client = app.test_client()
    auth = (made["key"], made["secret"])
    import base64

    headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}
    customer = made["id"]
    client.put(f"/customers/{customer}/spaces/1", json={"name": "bench"}, headers=headers)
    port = server.server_address[1]
    members = [
        {"id": f"i{i:05}", "space": 1, "origin": f"http://127.0.0.1:{port}/{i}.jpg"}
        for i in range(count)
    ]
    response = client.post(
        f"/customers/{customer}/queue", json={"member": members}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()["@id"].split("/queue/", 1)[1]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DLCS_STORAGE_DIR": str(folder / "storage"),
        "DLCS_ORIGIN_ALLOW_PRIVATE": "true",
        "DLCS_AUTO_MIGRATE": "false",
        "DLCS_QUEUE_NAME": queue_name,
        **({"DLCS_BROKER_URL": broker} if broker else {}),
    }
    command = [str(Path(sys.executable).parent / "dlcs"), "worker", "-c", "1"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        while True:
            doc = client.get(f"/customers/{customer}/queue/{batch}", headers=headers).get_json()
            if "finished" in doc:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        dispose_app(app)
        server.shutdown()
        drop()
        shutil.rmtree(folder, ignore_errors=True)
    assert doc["completed"] == count, doc
    return {
        "workers": workers,
        "images": count,
        "seconds": round(elapsed, 2),
        "images_per_second": round(count / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--database", help="a PostgreSQL server URL; default: an SQLite file")
    parser.add_argument("--broker", help="a Celery broker URL; default: the embedded queue")
    parser.add_argument("--size", default="2000x1500")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    body = jpeg(width, height)
    results = [run(args.count, n, args.database, args.broker, body) for n in args.workers]
    report = {
        "benchmark": "ingest",
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "image": f"{width}x{height} JPEG, {len(body)} bytes; thumbnails 1024/400/200/100",
        "database": "postgresql" if args.database else "sqlite",
        "queue": "celery" if args.broker else "embedded",
        "results": results,
    }
    if len(results) > 1:
        report["speedup"] = round(
            results[-1]["images_per_second"] / results[0]["images_per_second"], 2
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ingest-{report['database']}-{report['queue']}.json").write_text(
        json.dumps(report, indent=2) + "\n"
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
