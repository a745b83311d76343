"""IIIF delivery throughput: this server against IIPImage and a bare Flask app, side by side.

Ingests a 4000 x 3000 JPEG (its pyramid made at ingest), starts the server with gunicorn as
the Procfile does, the bare app (bench/bare.py, fixed bytes: on each path those this server
sends, a median one of the viewer's tiles) with the same settings, and
IIPImage (Debian's iipimage-server, C++, behind lighttpd's FastCGI, reading the same pyramid,
Image API 2 URLs), and drives them with wrk from a second process, path by path, by turns:

- viewer tiles: random 256 px tiles at every level, as a viewer asks for them;
- info.json; a thumbnail (ours: a made size, as stored; IIPImage renders it);
- a non-aligned region at an odd size.

Prints requests per second, p50 and p99, the CPU time per request of this server's and the bare
app's gunicorn workers, the ratios the targets are stated in, and the worker memory before and
after; writes bench/results/delivery*.json. Usage:

    .venv/bin/python -m bench.delivery [--quick]

IIPImage needs ``apt-get install iipimage-server lighttpd`` (``make iipimage``); without it
the run compares with the bare app alone and says so.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.server
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any

import pyvips

from app.factory import create_app
from app.ingest.derivatives import pyramid_key
from app.storage.db import dispose
from bench.http import RESULTS, answers, cpu_seconds, rss_megabytes, start, wrk

IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")
WIDTH, HEIGHT, TILE = 4000, 3000, 256
OURS, BARE, IIP, AGAINST = 18091, 18092, 18093, 18094

LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
"""


def viewer_tiles(count: int) -> list[tuple[str, str]]:
    """Return (region, size) of random tiles at every level, as OpenSeadragon asks for them."""
    levels = []
    factor = 1
    while True:
        levels.append(factor)
        if WIDTH / factor <= TILE and HEIGHT / factor <= TILE:
            break
        factor *= 2
    tiles = []
    for factor in levels:
        span = TILE * factor
        for x in range(0, WIDTH, span):
            for y in range(0, HEIGHT, span):
                w, h = min(span, WIDTH - x), min(span, HEIGHT - y)
                tiles.append((f"{x},{y},{w},{h}", f"{-(-w // factor)},"))
    rng = random.Random(7)
    return [rng.choice(tiles) for _ in range(count)]


def _origin(folder: Path, width: int = WIDTH, height: int = HEIGHT) -> str:
    xy = pyvips.Image.xyz(width, height)
    wave = (xy[0] * 1.8).sin() * (xy[1] * 1.8).sin() * 127 + 128
    picture = wave.bandjoin([xy[0] * (255 / width), xy[1] * (255 / height)]).cast("uchar")
    picture.jpegsave(str(folder / "big.jpg"), Q=90)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/big.jpg"


def ingest(folder: Path) -> dict[str, Any]:
    """Register and ingest the image; return the settings to serve it with and its paths."""
    database = f"sqlite:///{folder / 'bench.sqlite3'}"
    storage = folder / "storage"
    config = {
        "DATABASE_URL": database,
        "STORAGE_DIR": str(storage),
        "ORIGIN_ALLOW_PRIVATE": True,
        "EMBEDDED_WORKER": False,
    }
    app = create_app(config)
    made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "b"]).output)
    token = base64.b64encode(f"{made['key']}:{made['secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    client, c = app.test_client(), made["id"]
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    started = time.perf_counter()
    doc = client.put(
        f"/customers/{c}/spaces/1/images/big", json={"origin": _origin(folder)}, headers=headers
    ).get_json()
    took = time.perf_counter() - started
    assert doc["width"] == WIDTH, doc
    keys = {"customer": c, "space": 1, "image": "big"}
    generation = (
        app.extensions["dlcs.engine"]
        .connect()
        .exec_driver_sql("SELECT ingest_generation FROM images WHERE image = 'big'")
        .scalar_one()
    )
    pyramid = storage / pyramid_key(keys, generation)
    dispose(app)
    env = {
        "DATABASE_URL": database,
        "DLCS_STORAGE_DIR": str(storage),
        "DLCS_AUTO_MIGRATE": "false",
        "DLCS_EMBEDDED_WORKER": "false",
    }
    return {"env": env, "pyramid": pyramid, "customer": c, "ingest_seconds": round(took, 2)}


def start_iipimage(folder: Path, pyramid: Path) -> subprocess.Popen | None:
    """Start lighttpd serving IIPImage (FastCGI) on the pyramid's folder, or None."""
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    if not (IIPSRV.exists() and Path(lighttpd).exists()):
        return None
    config = folder / "lighttpd.conf"
    config.write_text(
        f"""
server.modules = ("mod_fastcgi")
server.port = {IIP}
server.bind = "127.0.0.1"
server.document-root = "{folder}"
server.errorlog = "{folder}/lighttpd.log"
fastcgi.server = ("/iipsrv" => ((
  "socket" => "{folder}/iipsrv.socket",
  "check-local" => "disable",
  "min-procs" => 2, "max-procs" => 2,
  "bin-path" => "{IIPSRV}",
  "bin-environment" => (
    "FILESYSTEM_PREFIX" => "{pyramid.parent}/",
    "LOGFILE" => "{folder}/iipsrv.log", "VERBOSITY" => "0",
    "JPEG_QUALITY" => "85", "MAX_CVT" => "5000", "CORS" => "*",
    "MAX_IMAGE_CACHE_SIZE" => "10"
  )
)))
"""
    )
    process = subprocess.Popen([lighttpd, "-D", "-f", str(config)])
    info = f"http://127.0.0.1:{IIP}/iipsrv?IIIF={pyramid.name}/info.json"
    return process if answers(info, process, 20) else None


def paths(customer: int, pyramid: Path, count: int) -> dict[str, dict[str, list[str]]]:
    """Return each path's URLs (in turn) for each server."""
    ours = f"/iiif-img/{customer}/1/big"
    theirs = f"/iipsrv?IIIF={pyramid.name}"
    tiles = viewer_tiles(count)
    odd = ("1234,567,789,543", "345,")
    return {
        "viewer tiles (256 px, every level)": {
            "ours": [f"{ours}/{r}/{s}/0/default.jpg" for r, s in tiles],
            "iip": [f"{theirs}/{r}/{s}/0/default.jpg" for r, s in tiles],
        },
        "info.json": {"ours": [f"{ours}/info.json"], "iip": [f"{theirs}/info.json"]},
        "thumbnail (400 px)": {
            "ours": [f"/thumbs/{customer}/1/big/full/400,/0/default.jpg"],
            "iip": [f"{theirs}/full/400,/0/default.jpg"],
        },
        "non-aligned region at an odd size": {
            "ours": [f"{ours}/{odd[0]}/{odd[1]}/0/default.jpg"],
            "iip": [f"{theirs}/{odd[0]}/{odd[1]}/0/default.jpg"],
        },
    }


def _urls(urls: dict[str, list[str]], who: str) -> list[str]:
    # (the bare app answers anything; another checkout of ours takes our URLs)
    return urls.get(who) or urls["ours"]


def _same_bytes(folder: Path, n: int, urls: list[str]) -> dict[str, str]:
    """Return the bare app's settings to send what this server sends for ``urls``."""
    bodies = []
    for url in urls[:200]:
        with urllib.request.urlopen(f"http://127.0.0.1:{OURS}{url}", timeout=30) as got:
            bodies.append((got.read(), got.headers["Content-Type"]))
    body, media_type = sorted(bodies, key=lambda found: len(found[0]))[len(bodies) // 2]
    path = folder / f"bare-{n}.bin"
    path.write_bytes(body)
    return {"BARE_BODY": str(path), "BARE_TYPE": media_type}


def measure(port: int, urls: list[str], seconds: float, folder: Path) -> dict[str, Any]:
    """Drive one server with wrk over ``urls`` in turn."""
    listing = folder / f"paths-{port}.txt"
    listing.write_text("\n".join(urls) + "\n")
    script = folder / f"paths-{port}.lua"
    script.write_text(LUA % listing)
    return wrk(f"http://127.0.0.1:{port}{urls[0]}", seconds, {}, str(script))


def run(quick: bool, against: Path | None = None) -> dict[str, Any]:
    """Run the benchmark (and the server of the checkout ``against``); return the report."""
    seconds, rounds = (1, 1) if quick else (5, 3)
    with tempfile.TemporaryDirectory(prefix="dlcs-bench-") as name:
        folder = Path(name)
        served = ingest(folder)
        servers = {"ours": start(OURS, "wsgi:app", served["env"])}
        if against is not None:
            servers["against"] = start(AGAINST, "wsgi:app", served["env"], against)
        iip = start_iipimage(folder, served["pyramid"])
        try:
            ports = {"ours": OURS, "bare": BARE, "iip": IIP, "against": AGAINST}
            rss_before = rss_megabytes(servers["ours"])
            results: dict[str, Any] = {}
            for n, (name_, urls) in enumerate(
                paths(served["customer"], served["pyramid"], 2000).items()
            ):
                # The bare app sends what this server sends on the path (a median tile of the
                # viewer's), so that the two send as much.
                servers["bare"] = start(
                    BARE, "bench.bare:app", _same_bytes(folder, n, urls["ours"])
                )
                names = ["ours", "bare"] + (["iip"] if iip is not None else [])
                names += ["against"] if against is not None else []
                for who in names:  # (warm up: the pyramid read, the cache filled)
                    measure(ports[who], _urls(urls, who), 1, folder)
                runs: dict[str, list[dict[str, Any]]] = {who: [] for who in names}
                for _ in range(rounds):
                    for who in names:
                        before = cpu_seconds(servers[who]) if who in servers else None
                        got = measure(ports[who], _urls(urls, who), seconds, folder)
                        if before is not None and got["rps"]:
                            # (CPU per request of the gunicorn workers: steadier than the rate
                            # on a machine whose two cores the load generator shares)
                            used = cpu_seconds(servers[who]) - before
                            got["cpu_us"] = used / (got["rps"] * seconds) * 1e6
                        runs[who].append(got)
                bare = servers.pop("bare")
                bare.terminate()
                bare.wait(timeout=30)
                results[name_] = {
                    who: {
                        "rps": round(median(r["rps"] for r in got), 1),
                        **(
                            {"cpu_us": round(median(r["cpu_us"] for r in got), 1)}
                            if all("cpu_us" in r for r in got)
                            else {}
                        ),
                        "p50_ms": median(r["p50_ms"] for r in got),
                        "p99_ms": median(r["p99_ms"] for r in got),
                        "failed": sum(r["failed"] for r in got),
                    }
                    for who, got in runs.items()
                }
            rss_after = rss_megabytes(servers["ours"])
        finally:
            for process in [*servers.values(), iip]:
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wrk": f"-t2 -c16 -d{seconds}s, median of {rounds}, by turns",
        "image": f"{WIDTH} x {HEIGHT} JPEG, pyramid of {TILE} px JPEG tiles",
        "ingest_seconds": served["ingest_seconds"],
        "iipimage": iip is not None,
        "against": str(against) if against is not None else None,
        "results": results,
        "worker_rss_mb": {"before": rss_before, "after": rss_after},
        "targets": _targets(results, iip is not None),
    }


def _targets(results: dict[str, Any], with_iip: bool) -> dict[str, Any]:
    def ratio(path: str, to: str) -> float:
        return round(results[path]["ours"]["rps"] / results[path][to]["rps"], 3)

    targets = {"thumbnail / bare >= 0.8": ratio("thumbnail (400 px)", "bare")}
    thumbnail = results["thumbnail (400 px)"]
    if "cpu_us" in thumbnail["ours"] and "cpu_us" in thumbnail["bare"]:
        # (the same in CPU per request: bare's / ours)
        targets["(thumbnail, CPU per request: bare / ours)"] = round(
            thumbnail["bare"]["cpu_us"] / thumbnail["ours"]["cpu_us"], 3
        )
    if "against" in results["info.json"]:
        targets["(viewer tiles / against)"] = ratio("viewer tiles (256 px, every level)", "against")
    if with_iip:
        targets["viewer tiles / IIPImage >= 1.0"] = ratio(
            "viewer tiles (256 px, every level)", "iip"
        )
        targets["info.json / IIPImage >= 1.0"] = ratio("info.json", "iip")
        targets["non-aligned region / IIPImage >= 0.3"] = ratio(
            "non-aligned region at an odd size", "iip"
        )
    return targets


def show(report: dict[str, Any]) -> None:
    """Print a report as a table."""
    print(
        f"\ndelivery ({report['wrk']}; {report['image']}, ingested in {report['ingest_seconds']} s)"
    )
    if not report["iipimage"]:
        print("IIPImage is not installed (make iipimage): compared with the bare app only")
    print(f"{'path':40} {'who':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>8}")
    for path, runs in report["results"].items():
        for who, r in runs.items():
            failed = f"  FAILED {r['failed']}" if r["failed"] else ""
            cpu = f"{r['cpu_us']:8.1f}" if "cpu_us" in r else f"{'':8}"
            print(
                f"{path:40} {who:>5} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {cpu}"
                f"{failed}"
            )
    print(f"worker RSS (MB) before: {report['worker_rss_mb']['before']}, "
          f"after: {report['worker_rss_mb']['after']}")  # fmt: skip
    for target, value in report["targets"].items():
        print(f"  {target:44} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 s runs (for CI)")
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="also serve the checkout DIR (another commit), by turns with the others",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    report = run(args.quick, args.against.resolve() if args.against else None)
    show(report)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (RESULTS / f"delivery{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    if any(r["failed"] for runs in report["results"].values() for r in runs.values()):
        sys.exit("some requests failed")


if __name__ == "__main__":
    main()
