"""The server as the Procfile runs it: gunicorn's workers on a real socket."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def procfile_web_line(env: dict[str, str]) -> str:
    """Return the Procfile's web command with its ${NAME:-default} expanded from ``env``."""
    line = next(
        entry.split(":", 1)[1].strip()
        for entry in (ROOT / "Procfile").read_text().splitlines()
        if entry.startswith("web:")
    )
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def procfile_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """Run the Procfile's web line on a free port; yield its base URL once it answers."""
    port = free_port()
    full_env = {
        **os.environ,
        **env,
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    command = procfile_web_line(full_env).replace("0.0.0.0:", "127.0.0.1:")
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=ROOT, env=full_env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"gunicorn exited:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(base + "/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # (not listening yet, or still loading the app)
                pass
            assert time.monotonic() < deadline, f"gunicorn never answered:\n{log.read_text()}"
            time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_procfile_boots_every_worker_on_a_database_with_no_tables(fresh_database, tmp_path):
    """All workers start at once and each would migrate: they take turns, none fails."""
    env = {
        "DATABASE_URL": fresh_database,
        "DLCS_AUTO_MIGRATE": "true",
        "DLCS_EMBEDDED_WORKER": "false",
        "DLCS_STORAGE_DIR": str(tmp_path / "storage"),
        "WEB_CONCURRENCY": "4",
    }
    log = tmp_path / "gunicorn.log"
    with procfile_server(env, log) as base:
        # Every worker answers from a migrated database (the policies are seeded by it).
        for _ in range(20):
            r = requests.get(base + "/thumbnailpolicies/default", timeout=5)
            assert r.status_code == 200, r.text
        time.sleep(1)  # (a worker that failed would have been reported by now)
    text_ = log.read_text()
    assert "Worker failed to boot" not in text_ and "database is locked" not in text_, text_
    assert text_.count("Booting worker") == 4, text_


def wait_for_workers(log: Path, count: int) -> None:
    """Wait until ``count`` workers have loaded the app (each logs that it booted, then loads)."""
    deadline = time.monotonic() + 30
    while log.read_text().count("Booting worker") < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    time.sleep(3)  # (loading the app takes each worker about a second)


def test_clients_slow_to_send_their_headers_leave_the_others_served(database_url, tmp_path):
    """Eight connections trickle a header line a second; sixteen GETs are still answered."""
    env = {
        "DATABASE_URL": database_url,
        "DLCS_EMBEDDED_WORKER": "false",
        "DLCS_STORAGE_DIR": str(tmp_path / "storage"),
    }
    log = tmp_path / "gunicorn.log"
    with procfile_server(env, log) as base:
        wait_for_workers(log, int(os.environ.get("WEB_CONCURRENCY", 4)))
        host, port = base.removeprefix("http://").split(":")
        slow = [socket.create_connection((host, int(port))) for _ in range(8)]
        stop = threading.Event()

        def trickle() -> None:
            for sock in slow:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            while not stop.wait(1):
                for sock in slow:
                    with suppress(OSError):
                        sock.sendall(b"X-Slow: 1\r\n")

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        statuses: list[int | str] = []
        try:
            time.sleep(2)  # (every slow connection has been taken up by the server)
            for _ in range(16):
                try:
                    statuses.append(requests.get(base + "/", timeout=5).status_code)
                except requests.RequestException as exc:
                    statuses.append(type(exc).__name__)
        finally:
            stop.set()
            thread.join()
            for sock in slow:
                sock.close()
    assert statuses == [200] * 16


def test_make_run_serves_with_gunicorn_as_the_procfile_does(tmp_path):
    """The README's first command: the server it starts is the one deployed (not Flask's)."""
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "DLCS_STORAGE_DIR": str(tmp_path / "storage"),
    }
    log = tmp_path / "make.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["make", "-s", "run"], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                r = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        assert r.status_code == 200 and r.headers["Server"].startswith("gunicorn"), r.headers
        assert "development server" not in log.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
