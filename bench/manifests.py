"""Named query manifests: this server against a bare Flask app sending the same bytes.

Seeds a database with a customer whose space holds three books registered as images are
(``string1`` the book, ``number1`` the page), of 100, 1,000 and 10,000 pages, each page
ingested at 2000 x 1500 with the default thumbnails, a tenth of them with a role; starts the
server with gunicorn as the Procfile does, and for each book the bare app (bench/bare.py)
sending the bytes of that book's manifest, and drives the two with wrk by turns through the
global ``book`` query (``/iiif-resource/{c}/book/{book}``). Prints requests per second, p50,
our workers' CPU time per canvas at each size (linear growth: about the same at 1,000 and
10,000; at 100 what every request costs shows) and the ratio the target is stated in; writes
bench/results/manifests*.json. Usage:

    .venv/bin/python -m bench.manifests [--quick] [--database URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import insert

from bench.http import RESULTS, cpu_seconds, start, wrk
from bench.ingest import fresh_database

OURS, BARE = 18191, 18192
BOOKS = {"b100": 100, "b1000": 1_000, "b10000": 10_000}
ROLED = 10  # one page in ROLED has the role
CONNECTIONS = 4  # (enough to keep both workers busy; a manifest of 10,000 canvases is 15 MB)


def seed(url: str) -> int:
    """Fill the database: a customer, its space 1 with the books' pages, and a role."""
    from app.factory import create_app
    from app.storage.db import dispose, make_engine, upgrade
    from app.storage.models import CHILDREN, TABLES

    engine = make_engine(url, 30)
    upgrade(engine)
    app = create_app({"DATABASE_URL": url, "EMBEDDED_WORKER": False})
    made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "books"]).output)
    customer = made["id"]
    dispose(app)
    images, roles = TABLES["Image"], CHILDREN["Image"]["roles"]
    start_time = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(insert(TABLES["Space"]), [{"customer": customer, "space": 1, "name": "s",
                     "created": start_time, "maxUnauthorised": -1, "image_count": 0}])  # fmt: skip
        conn.execute(insert(TABLES["Role"]), [{"customer": customer, "role": "reg", "name": "reg",
                     "label": "Readers", "accessProfile": "clickthrough", "heading": "",
                     "note": "", "confirmLabel": "", "signInUrl": ""}])  # fmt: skip
        for book, pages in BOOKS.items():
            rows = [
                {
                    "customer": customer,
                    "space": 1,
                    "image": f"{book}-{page:05d}",
                    "created": start_time + dt.timedelta(milliseconds=page),
                    "origin": f"https://example.org/{book}/{page}.jpg",
                    "maxUnauthorised": 400 if page % ROLED == 0 else -1,
                    "ingesting": False,
                    "error": "",
                    "string1": book,
                    "string2": f"page {page}",
                    "string3": "",
                    "number1": page,
                    "number2": 0,
                    "number3": 0,
                    "duration": 0,
                    "family": "I",
                    "width": 2000,
                    "height": 1500,
                    "media_type": "image/jpeg",
                    "thumbnailPolicy": "default",
                    "imageOptimisationPolicy": "fast-higher",
                    "finished": start_time,
                }
                for page in range(1, pages + 1)
            ]
            conn.execute(insert(images), rows)
            conn.execute(
                insert(roles),
                [
                    {**{k: r[k] for k in ("customer", "space", "image")}, "position": 0,
                     "value": "reg"}
                    for r in rows
                    if r["maxUnauthorised"] == 400
                ],
            )  # fmt: skip
    with engine.connect() as conn:
        settle = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(settle)
    engine.dispose()
    return customer


def run(quick: bool, database: str | None) -> dict[str, Any]:
    """Run the benchmark; return the report."""
    # (a manifest of 10,000 canvases takes about 0.5 s: a run of 1 s would count none)
    seconds, rounds = (3, 1) if quick else (5, 3)
    with tempfile.TemporaryDirectory(prefix="dlcs-bench-") as name:
        folder = Path(name)
        url, drop = fresh_database(database, folder)
        try:
            customer = seed(url)
            env = {
                "DATABASE_URL": url,
                "DLCS_STORAGE_DIR": str(folder / "storage"),
                "DLCS_AUTO_MIGRATE": "false",
                "DLCS_EMBEDDED_WORKER": "false",
            }
            ours = start(OURS, "wsgi:app", env)
            results: dict[str, Any] = {}
            try:
                for book, pages in BOOKS.items():
                    path = f"/iiif-resource/{customer}/book/{book}"
                    with urllib.request.urlopen(f"http://127.0.0.1:{OURS}{path}", timeout=60) as r:
                        body, media_type = r.read(), r.headers["Content-Type"]
                    assert len(json.loads(body)["items"]) == pages
                    sent = folder / f"{book}.json"
                    sent.write_bytes(body)
                    bare = start(BARE, "bench.bare:app", {"BARE_BODY": str(sent),
                                                          "BARE_TYPE": media_type})  # fmt: skip
                    try:
                        ports = {"ours": OURS, "bare": BARE}
                        for port in ports.values():  # (warm up)
                            wrk(f"http://127.0.0.1:{port}{path}", 1, {}, None, CONNECTIONS)
                        runs: dict[str, list[dict[str, Any]]] = {who: [] for who in ports}
                        cpu: list[float] = []  # (our workers' CPU seconds per manifest)
                        for _ in range(rounds):
                            for who, port in ports.items():
                                before = cpu_seconds(ours)
                                target = f"http://127.0.0.1:{port}{path}"
                                got = wrk(target, seconds, {}, None, CONNECTIONS)
                                runs[who].append(got)
                                if who == "ours" and got["rps"]:
                                    used = cpu_seconds(ours) - before
                                    cpu.append(used / (got["rps"] * seconds))
                    finally:
                        bare.terminate()
                        bare.wait(timeout=30)
                    results[f"{pages} canvases"] = {
                        "bytes": len(body),
                        **{
                            who: {
                                "rps": round(median(r["rps"] for r in got), 2),
                                "p50_ms": median(r["p50_ms"] for r in got),
                                "failed": sum(r["failed"] for r in got),
                            }
                            for who, got in runs.items()
                        },
                    }
                    # (the CPU time of a manifest in our workers, per canvas)
                    results[f"{pages} canvases"]["ours_us_per_canvas"] = (
                        round(median(cpu) / pages * 1e6, 1) if cpu else None
                    )
            finally:
                ours.terminate()
                ours.wait(timeout=30)
        finally:
            drop()
    per_canvas = {k: v["ours_us_per_canvas"] for k, v in results.items()}
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "wrk": f"-t2 -c{CONNECTIONS} -d{seconds}s, median of {rounds}, by turns",
        "results": results,
        "targets": {
            "1,000 canvases / bare >= 0.3": round(
                results["1000 canvases"]["ours"]["rps"] / results["1000 canvases"]["bare"]["rps"], 3
            ),
            "(CPU per canvas at 10,000 / at 1,000: linear if about 1)": (
                round(per_canvas["10000 canvases"] / per_canvas["1000 canvases"], 2)
                if per_canvas["10000 canvases"] and per_canvas["1000 canvases"]
                else None
            ),
        },
    }


def show(report: dict[str, Any]) -> None:
    """Print a report as a table."""
    print(f"\nmanifests of a named query, {report['database']} ({report['wrk']})")
    print(f"{'manifest':18} {'bytes':>10} {'who':>5} {'req/s':>9} {'p50 ms':>9} {'us/canvas':>10}")
    for size, r in report["results"].items():
        for who in ("ours", "bare"):
            per = f"{r['ours_us_per_canvas']:10.1f}" if who == "ours" else ""
            failed = f"  FAILED {r[who]['failed']}" if r[who]["failed"] else ""
            print(
                f"{size:18} {r['bytes']:10} {who:>5} {r[who]['rps']:9.1f} "
                f"{r[who]['p50_ms']:9.2f} {per}{failed}"
            )
    for target, value in report["targets"].items():
        print(f"  {target:56} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, once (for CI)")
    parser.add_argument("--database", help="a PostgreSQL server's URL (default: SQLite)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    report = run(args.quick, args.database)
    show(report)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (RESULTS / f"manifests-{report['database']}{suffix}.json").write_text(
        json.dumps(report, indent=2) + "\n"
    )
    if any(r[who]["failed"] for r in report["results"].values() for who in ("ours", "bare")):
        sys.exit("some requests failed")


if __name__ == "__main__":
    main()
