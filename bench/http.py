"""HTTP throughput of the real server against a bare Flask app, side by side in one run.

Seeds a database (SQLite and/or PostgreSQL) with a space of 10,000 images and one of
1,000,000, starts the server with gunicorn exactly as the Procfile does, starts the bare app
(bench/bare.py) with the same settings, and drives both with wrk from a second process,
alternating between them path by path. Prints requests per second, p50 and p99 latency, the
workers' CPU time per request (and PostgreSQL's), and the ratios the targets are stated in, and
writes them to bench/results/. Usage:

    .venv/bin/python -m bench.http [--database sqlite postgresql] [--quick]

For the GET and the PUT of an image, a third app takes its turns as well: the least a GET and
a PUT can do on this stack (bench/least.py: one SELECT, or one UPDATE, of the row by key
through the server's engines, fixed bytes), so that their rates can be read against what the
stack itself allows, not only against fixed bytes. The targets are stated against those.

With ``--against DIR`` (a checkout of another commit, say from ``git worktree add``), that
checkout's server runs too, on the same database, by turns with the others: a change
measured side by side in one run.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from app.storage.db import dispose as dispose_app
from bench.ingest import fresh_database

ROOT = Path(__file__).resolve().parents[1]
GET = "GET image"
PUT = "PUT image (no origin)"
PAGE = "GET collection page of 100"
FIRST = "GET page 1, 10k-image space"
RESULTS = Path(__file__).parent / "results"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Every PUT really changes the image (number1 and string1 differ each time), from each of
# wrk's threads in turn over 1,000 images.
PUT_SCRIPT = """
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/ld+json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
counter = 0
request = function()
  counter = counter + 1
  local n = counter * 16 + id
  local path = string.format("/customers/%d/spaces/1/images/i%07d", CUSTOMER, n % 1000)
  local body = string.format('{"string1": "bench %d", "number1": %d, "tags": ["a", "b"]}', n, n)
  return wrk.format(nil, path, nil, body)
end
"""


def seed(url: str, small: int, big: int) -> dict[str, Any]:
    """Fill a fresh database: a customer with a key, 10k images in space 1, 1M in space 2."""
    from app.factory import create_app
    from app.resources.collections import encode_cursor
    from app.storage.db import make_engine, upgrade
    from app.storage.models import CHILDREN, TABLES

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False, "EMBEDDED_WORKER": False})
    made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "bench"]).output)
    customer = made["id"]
    engine = app.extensions["dlcs.engine"]
    images, spaces, tags = TABLES["Image"], TABLES["Space"], CHILDREN["Image"]["tags"]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        for space, count in ((1, small), (2, big)):
            conn.execute(
                insert(spaces).values(
                    customer=customer,
                    space=space,
                    name=f"s{space}",
                    created=start,
                    maxUnauthorised=-1,
                    image_count=count,
                )
            )
            for first in range(0, count, 20_000):
                rows = [
                    {
                        "customer": customer,
                        "space": space,
                        "image": f"i{i:07d}",
                        "created": start + dt.timedelta(milliseconds=i),
                        "origin": "",
                        "maxUnauthorised": -1,
                        "ingesting": False,
                        "error": "",
                        "string1": f"s{i}",
                        "string2": "",
                        "string3": "",
                        "number1": i % 1000,
                        "number2": 0,
                        "number3": 0,
                        "duration": 0,
                        "family": "I",
                    }
                    for i in range(first, min(first + 20_000, count))
                ]
                conn.execute(insert(images), rows)
                if space == 1:
                    children = [
                        {
                            "customer": customer,
                            "space": 1,
                            "image": r["image"],
                            "position": p,
                            "value": v,
                        }
                        for r in rows
                        for p, v in enumerate(("a", "b"))
                    ]
                    conn.execute(insert(tags), children)
        # The cursor a client holds after following `next` to page 10,000 of the big space
        # (or to its last page, when it has fewer).
        deep_page = min(10_000, big // 100)
        offset = (deep_page - 1) * 100 - 1
        last = conn.execute(
            select(images.c.created, images.c.image)
            .where(images.c.customer == customer, images.c.space == 2)
            .order_by(images.c.created, images.c.image)
            .offset(offset)
            .limit(1)
        ).one()

    with engine.connect() as conn:  # statistics and a settled table, as in a database in service
        settle = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(settle)
    dispose_app(app)
    token = encode_cursor([last.created, last.image])
    auth = base64.b64encode(f"{made['key']}:{made['secret']}".encode()).decode()
    return {"customer": customer, "auth": f"Basic {auth}", "deep": (deep_page, token)}


def procfile_command(port: int, app_path: str, root: Path = ROOT) -> list[str]:
    """Return the Procfile's web command (of the checkout ``root``) for ``port``."""
    lines = (root / "Procfile").read_text().splitlines()
    line = next(text for text in lines if text.startswith("web:"))
    command = line.split(":", 1)[1].strip()
    # ${NAME:-default}: the environment's value, or the default (PORT: the benchmark's own).
    settings = {**os.environ, "PORT": str(port)}
    command = re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda m: settings.get(m.group(1), m.group(2)), command
    )
    command = command.replace("--access-logfile -", "").replace("wsgi:app", app_path)
    parts = shlex.split(command)
    parts[0] = str(Path(sys.executable).parent / parts[0])
    return parts


def start(port: int, app_path: str, env: dict[str, str], root: Path = ROOT) -> subprocess.Popen:
    """Start gunicorn serving ``app_path`` of the checkout ``root`` and wait until it answers."""
    if root != ROOT:  # its own packages first
        env = {**env, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        procfile_command(port, app_path, root),
        cwd=root,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if answers(f"http://127.0.0.1:{port}/", process, 60):
        return process
    raise RuntimeError(f"{app_path} did not start on port {port}")


def answers(url: str, process: subprocess.Popen, seconds: float) -> bool:
    """Wait until ``url`` answers; False (``process`` killed) if it does not within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except OSError:
            time.sleep(0.2)
    process.kill()
    return False


def workers(master: subprocess.Popen) -> list[str]:
    """Return the process ids of the gunicorn workers of ``master``."""
    return Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()


def cpu_seconds(master: subprocess.Popen) -> float:
    """Return the CPU time (user and system) the workers of ``master`` have used so far."""
    ticks = 0
    for pid in workers(master):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_megabytes(master: subprocess.Popen) -> list[float]:
    """Return the resident memory of each gunicorn worker of ``master``."""
    sizes = []
    for pid in workers(master):
        status = Path(f"/proc/{pid}/status").read_text()
        kilobytes = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        sizes.append(round(kilobytes / 1024, 1))
    return sizes


def database_cpu_seconds() -> float:
    """Return the CPU time the PostgreSQL server's processes on this machine have used so far."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name == "postgres":
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    url: str, seconds: float, headers: dict[str, str], script: str | None, connections: int = 16
) -> dict[str, Any]:
    """Run wrk; return requests per second, p50 and p99 in milliseconds, and failures.

    ``connections``: fewer for responses that take long (wrk counts one that takes over 10 s
    as failed).
    """
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = {
        m.group(1): float(m.group(2)) * UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(latency.get("50", 0.0), 3),
        "p99_ms": round(latency.get("99", 0.0), 3),
        "failed": int(failed.group(1)) if failed else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


def run(
    database: str, quick: bool, only: list[str] | None = None, against: Path | None = None
) -> dict[str, Any]:
    """Benchmark one database (and the server of the checkout ``against``); return the report."""
    # A run of chosen paths without the deep pages needs no million-image space.
    deep_pages = only is None or any("page" in text for text in only)
    small, big = (1_000, 20_000) if quick or not deep_pages else (10_000, 1_000_000)
    seconds = 1 if quick else 4
    rounds = 1 if quick else 5
    folder = Path(tempfile.mkdtemp(prefix="dlcs-http-"))
    url, drop = fresh_database(PG_SERVER if database == "postgresql" else None, folder)
    try:
        started = time.monotonic()
        data = seed(url, small, big)
        seeded = round(time.monotonic() - started, 1)
        c = data["customer"]
        deep_page, token = data["deep"]
        script = folder / "put.lua"
        script.write_text(f"CUSTOMER = {c}\n" + PUT_SCRIPT)
        auth = {"Authorization": data["auth"]}
        # Every GET says Cache-Control: no-cache. The server keeps no responses; a checkout run
        # --against that kept them in memory (before issue 16) then reads the database too.
        anew = {**auth, "Cache-Control": "no-cache"}
        deep = f"GET page {deep_page}, {big:,}-image space"
        paths = {
            GET: (f"/customers/{c}/spaces/1/images/i0000042", anew, None),
            PAGE: (f"/customers/{c}/spaces/1/images?pageSize=100", anew, None),
            FIRST: (f"/customers/{c}/spaces/1/images", anew, None),
            f"{deep} (next link)": (
                f"/customers/{c}/spaces/2/images?page={deep_page}&after={token}",
                anew,
                None,
            ),
            f"{deep} (page only)": (
                f"/customers/{c}/spaces/2/images?page={deep_page}",
                anew,
                None,
            ),
            PUT: (
                f"/customers/{c}/spaces/1/images/i0000001",
                auth,
                str(script),
            ),
            "GET image as Turtle": (
                f"/customers/{c}/spaces/1/images/i0000042",
                {**anew, "Accept": "text/turtle"},
                None,
            ),
            "GET API documentation": ("/vocab", {}, None),
        }
        if only:
            chosen = {GET, PUT}
            paths = {k: v for k, v in paths.items() if k in chosen or any(w in k for w in only)}
        env = {"DATABASE_URL": url, "DLCS_EMBEDDED_WORKER": "false", "DLCS_AUTO_MIGRATE": "false"}
        ours = start(18081, "wsgi:app", env)
        bare = start(18082, "bench.bare:app", {})
        servers = {"bare": (18082, bare), "server": (18081, ours)}
        if against is not None:
            servers["against"] = (18083, start(18083, "wsgi:app", env, against))
        # The least read and write take their turns on the GET and the PUT of an image.
        least = (18084, start(18084, "bench.least:create_app()", env))
        results: dict[str, Any] = {}
        try:
            for port, _ in servers.values():  # warm up: imports, pools, caches, page cache
                for path, headers, lua in paths.values():
                    wrk(f"http://127.0.0.1:{port}{path}", 1, headers, lua)
            for name, (path, headers, lua) in paths.items():
                turns = dict(servers)
                if name in (GET, PUT):
                    turns["least"] = least
                    wrk(f"http://127.0.0.1:{least[0]}{path}", 1, headers, lua)  # (warm up)
                runs: dict[str, list[dict[str, Any]]] = {label: [] for label in turns}
                for _ in range(rounds):
                    for label, (port, process) in turns.items():
                        used, database_used = cpu_seconds(process), database_cpu_seconds()
                        measured = wrk(f"http://127.0.0.1:{port}{path}", seconds, headers, lua)
                        used = cpu_seconds(process) - used
                        database_used = database_cpu_seconds() - database_used
                        served = measured["rps"] * seconds
                        measured["cpu_us"] = round(used / served * 1e6) if served else None
                        # PostgreSQL's own processes (on SQLite the database runs in the worker).
                        measured["db_cpu_us"] = (
                            round(database_used / served * 1e6) if served else None
                        )
                        runs[label].append(measured)
                # The median run of each, so one disturbed run moves nothing.
                best = {k: sorted(v, key=lambda m: m["rps"])[len(v) // 2] for k, v in runs.items()}
                # Each round's own ratio (the two runs next to each other in time): their
                # spread shows how far the machine moved the median's ratio.
                each = [
                    mine["rps"] / theirs["rps"]
                    for mine, theirs in zip(runs["server"], runs["bare"], strict=True)
                ]
                results[name] = {
                    **best["server"],
                    "bare_rps": best["bare"]["rps"],
                    "bare_cpu_us": best["bare"]["cpu_us"],
                    "ratio_to_bare": round(best["server"]["rps"] / best["bare"]["rps"], 3),
                    "round_ratios": [round(r, 3) for r in sorted(each)],
                }
                for label, key in (("against", "against"), ("least", "least")):
                    if label in best:
                        results[name][key] = {
                            **best[label],
                            "ratio_to_bare": round(best[label]["rps"] / best["bare"]["rps"], 3),
                        }
            memory = rss_megabytes(ours)
        finally:
            for _, process in [*servers.values(), least]:
                process.terminate()
                process.wait(timeout=30)
        targets = _targets(results, memory, deep_page, big)
        return {
            "benchmark": "http",
            "date": dt.date.today().isoformat(),
            "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
            "database": database,
            "quick": quick,
            "seconds_to_seed": seeded,
            "images": {"space 1": small, "space 2": big},
            "wrk": f"-t2 -c16 -d{seconds}s, median of {rounds}, alternating with the bare app",
            "against": str(against) if against is not None else None,
            "results": results,
            "worker_rss_mb": memory,
            "targets": targets,
        }
    finally:
        drop()
        shutil.rmtree(folder, ignore_errors=True)


def _targets(
    results: dict[str, Any], memory: list[float], deep_page: int, big: int
) -> dict[str, Any]:
    """Return the measured value of each target whose paths were run."""
    rps = {name: r["rps"] for name, r in results.items()}
    deep = f"GET page {deep_page}, {big:,}-image space (next link)"
    targets: dict[str, Any] = {}
    for name, least, floor in ((GET, "least read", 0.6), (PUT, "least write", 0.5)):
        if name in results and "least" in results[name]:
            ratio = results[name]["rps"] / results[name]["least"]["rps"]
            targets[f"{name} / {least} >= {floor}"] = round(ratio, 3)
    if PAGE in rps and GET in rps:
        targets["page of 100 / GET image >= 0.10"] = round(rps[PAGE] / rps[GET], 3)
    if "against" in results.get(GET, {}):
        for name in (GET, PUT, PAGE):
            if name in results and "against" in results[name]:
                ratio = results[name]["rps"] / results[name]["against"]["rps"]
                targets[f"({name} / against)"] = round(ratio, 3)
    if deep in rps and FIRST in rps:
        targets["deep page time / page 1 time <= 1.5"] = round(rps[FIRST] / rps[deep], 3)
    targets["worker RSS MB <= 150"] = max(memory)
    return targets


def show(report: dict[str, Any]) -> None:
    """Print a report as a table."""
    print(f"\n{report['database']} ({report['wrk']})")
    print(
        f"{'path':64} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'bare':>9} {'ratio':>6}"
        f" {'rounds':>11} {'cpu us':>7} {'db cpu':>7} {'bare cpu':>8}"
    )
    for name, r in report["results"].items():
        low, high = r["round_ratios"][0], r["round_ratios"][-1]
        spread = f"{low:.2f}-{high:.2f}"
        print(
            f"{name:64} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['bare_rps']:9.0f} {r['ratio_to_bare']:6.2f} {spread:>11} "
            f"{r['cpu_us']:7} {r.get('db_cpu_us', 0):7} {r['bare_cpu_us']:8}"
            + (f"  FAILED {r['failed']}" if r["failed"] else "")
        )
        least = "least read" if name == GET else "least write"
        others = (("least", least), ("against", f"against {report['against']}"))
        for key, label in others:
            if key in r:
                a = r[key]
                print(
                    f"{'  ' + label:64.64} {a['rps']:9.0f} {a['p50_ms']:8.2f} {a['p99_ms']:8.2f} "
                    f"{'':9} {a['ratio_to_bare']:6.2f} {'':>11} {a['cpu_us']:7} "
                    f"{a.get('db_cpu_us', 0):7}"
                )
    print(f"worker RSS (MB): {report['worker_rss_mb']}")
    for target, value in report["targets"].items():
        print(f"  {target:52} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--quick", action="store_true", help="small data, 1 s runs (for CI)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="TEXT",
        help="run GET image, PUT image and the paths whose names contain TEXT (results not saved)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="also serve the checkout DIR (another commit), by turns with the others"
        " (results not saved)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    RESULTS.mkdir(exist_ok=True)
    for database in args.database:
        against = args.against.resolve() if args.against else None
        report = run(database, args.quick, args.only, against)
        show(report)
        if args.only or args.against:
            continue
        suffix = "-quick" if args.quick else ""
        (RESULTS / f"http-{database}{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
        if any(r["failed"] for r in report["results"].values()):
            sys.exit("some requests failed")


if __name__ == "__main__":
    main()
