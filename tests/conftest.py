"""Fixtures: a fresh database per test (SQLite file, or PostgreSQL), clients, and a JSON-LD check.

Set TEST_DATABASE_URL to a PostgreSQL server (``postgresql+psycopg://postgres@127.0.0.1/test``)
to run the suite there: a database of its own is created for the run and dropped after it.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import rdflib
from pyld import jsonld as pyld
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from app.factory import create_app
from app.storage.db import dispose as dispose_app
from app.storage.db import make_engine, upgrade
from app.storage.models import metadata
from tests import media

BASE = "http://localhost"
KEEP = {
    "image_optimisation_policies",
    "image_optimisation_policies_technicalDetails",
    "thumbnail_policies",
    "thumbnail_policies_sizes",
    "global_named_queries",
}  # seeded by the migrations


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Migrate one database for the run: a template SQLite file, or a PostgreSQL database."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        template = tmp_path_factory.mktemp("db") / "template.sqlite3"
        engine = make_engine(f"sqlite:///{template}")
        upgrade(engine)
        engine.dispose()
        yield {"kind": "sqlite", "template": template}
        return
    name = f"dlcs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield {"kind": "postgresql", "url": url, "engine": engine}
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(database: dict[str, Any], tmp_path: Path) -> str:
    """Return the URL of an empty, migrated database for one test."""
    if database["kind"] == "sqlite":
        path = tmp_path / "dlcs.sqlite3"
        shutil.copyfile(database["template"], path)
        return f"sqlite:///{path}"
    with database["engine"].begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name not in KEEP:
                conn.execute(delete(table))
    return database["url"]


@pytest.fixture
def fresh_database(database, tmp_path) -> Iterator[str]:
    """Return the URL of a database with no tables at all (of the suite's kind)."""
    if database["kind"] == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    server = make_url(database["url"])
    name = f"dlcs_fresh_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Return settings of the app besides the tests' own (a test parametrizes it to set some)."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_config: dict[str, Any]):
    """Return an app on a fresh database."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "AUTO_MIGRATE": False,
            "EMBEDDED_WORKER": False,  # tests run the queue themselves (drain) or start it
            "STORAGE_DIR": str(tmp_path / "storage"),
            "ORIGIN_ALLOW_PRIVATE": True,  # the test origins are served on 127.0.0.1
            **app_config,
        }
    )
    app.instance_path = str(tmp_path / "instance")
    yield app
    queue = app.extensions["dlcs.queue"]
    if hasattr(queue, "stop"):
        queue.stop()
    dispose_app(app)


@pytest.fixture
def runner(app):
    """Return a CLI runner of the app."""
    return app.test_cli_runner()


def basic(key: str, secret: str) -> dict[str, str]:
    """Return the Authorization header of HTTP Basic credentials."""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class LinkedData:
    """Check JSON-LD documents the way a client reads them: pyld expansion, rdflib graph."""

    def __init__(self, client) -> None:
        self.client = client
        self.cache: dict[str, Any] = {}

    def load(self, url: str, options: Any = None) -> dict[str, Any]:
        """Serve a remote document (our contexts) from the app, never from the network."""
        parsed = urlparse(url)
        assert f"{parsed.scheme}://{parsed.netloc}" == BASE, f"remote context fetched: {url}"
        if url not in self.cache:
            response = self.client.get(parsed.path)
            assert response.status_code == 200, url
            self.cache[url] = response.get_json()
        return {"contextUrl": None, "documentUrl": url, "document": self.cache[url]}

    def options(self) -> dict[str, Any]:
        return {"documentLoader": self.load, "base": BASE + "/"}

    def expand(self, doc: Any) -> list[dict[str, Any]]:
        """Expand a document; every key and type must be a defined term."""
        self.check_terms(doc)
        return pyld.expand(doc, self.options())

    def graph(self, doc: Any) -> rdflib.Graph:
        """Return the RDF graph of a document."""
        nquads = pyld.to_rdf(doc, {**self.options(), "format": "application/n-quads"})
        return rdflib.Graph().parse(data=nquads, format="nt")

    def terms(self, doc: dict[str, Any]) -> dict[str, Any]:
        context = doc["@context"]
        if isinstance(context, str):
            context = self.load(context)["document"]["@context"]
        return context

    def check_terms(self, doc: Any) -> None:
        if not isinstance(doc, dict) or "@context" not in doc:
            return
        terms = self.terms(doc)

        def walk(value: Any) -> None:
            if isinstance(value, list):
                for item in value:
                    walk(item)
            elif isinstance(value, dict):
                for key, item in value.items():
                    if key in ("@context",):
                        continue
                    if not key.startswith("@"):
                        assert key in terms, f"{key!r} is not defined by the context"
                    if key == "@type":
                        for name in item if isinstance(item, list) else [item]:
                            assert name in terms or ":" in name, f"type {name!r} is undefined"
                    walk(item)

        walk(doc)


class Api:
    """A test client that authenticates and checks every JSON-LD body it receives."""

    def __init__(self, client, ld: LinkedData, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.ld = ld
        self.headers = headers or {}

    def as_(self, headers: dict[str, str] | None) -> Api:
        """Return the same client with other credentials."""
        return Api(self.client, self.ld, headers)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
            headers.setdefault("Content-Type", "application/ld+json")
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        if response.mimetype == "application/ld+json" and response.data:
            doc = response.get_json()
            if set(doc) == {"@context"}:  # a context document describes no resource
                return response
            expanded = self.ld.expand(doc)
            assert expanded, f"{path}: the body expands to nothing"
            assert len(self.ld.graph(doc)) > 0
        return response

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("PATCH", path, body, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("POST", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def client(app):
    """Return Flask's test client."""
    return app.test_client()


@pytest.fixture
def ld(client) -> LinkedData:
    """Return the JSON-LD checker."""
    return LinkedData(client)


def make_customer(runner, name: str, *, admin: bool = False) -> dict[str, Any]:
    """Create a customer with the CLI; return what it printed."""
    args = ["customer", "create", name] + (["--admin"] if admin else [])
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def customer_with_space(app, name: str) -> Api:
    """Return a client of a new customer of ``app`` (an app of a test's own) with space 1."""
    made = make_customer(app.test_cli_runner(), name)
    client = app.test_client()
    api = Api(client, LinkedData(client), basic(made["key"], made["secret"]))
    api.customer = made["id"]
    assert api.put(f"/customers/{made['id']}/spaces/1", {"name": "s"}).status_code == 201
    return api


@pytest.fixture
def anon(client, ld) -> Api:
    """Return a client without credentials."""
    return Api(client, ld)


@pytest.fixture
def admin(runner, client, ld) -> Api:
    """Return a client holding an admin key."""
    made = make_customer(runner, "admin", admin=True)
    api = Api(client, ld, basic(made["key"], made["secret"]))
    api.customer = made["id"]
    return api


@pytest.fixture
def alice(runner, client, ld) -> Api:
    """Return a client of customer "alice", who has space 1 and role "reg"."""
    made = make_customer(runner, "alice")
    api = Api(client, ld, basic(made["key"], made["secret"]))
    api.customer = made["id"]
    c = made["id"]
    assert api.put(f"/customers/{c}/spaces/1", {"name": "main"}).status_code == 201
    assert api.put(f"/customers/{c}/roles/reg", {"label": "Registered"}).status_code == 201
    return api


@pytest.fixture
def bob(runner, client, ld) -> Api:
    """Return a client of another customer, "bob", with space 1."""
    made = make_customer(runner, "bob")
    api = Api(client, ld, basic(made["key"], made["secret"]))
    api.customer = made["id"]
    assert api.put(f"/customers/{made['id']}/spaces/1", {"name": "bobs"}).status_code == 201
    return api


class Origin:
    """A real HTTP server on 127.0.0.1 serving generated images and misbehaving on purpose."""

    def __init__(self, folder: Path) -> None:
        import http.server
        import threading
        import time

        self.folder = folder
        self.hits: dict[str, int] = {}
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                origin.hits[path] = origin.hits.get(path, 0) + 1
                if path.startswith("/status/"):
                    self.send_response(int(path.rsplit("/", 1)[1]))
                    self.end_headers()
                    return
                if path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", path.removeprefix("/redirect"))
                    self.end_headers()
                    return
                if path == "/slow":
                    time.sleep(3)
                if path.startswith("/trickle/"):  # a byte (or header line) every 0.1 s, for 20 s
                    self.trickle(path.split("/")[2])
                    return
                if path.startswith("/delay/"):
                    _, _, milliseconds, path = path.split("/", 3)
                    time.sleep(int(milliseconds) / 1000)
                    path = "/" + path
                file = origin.folder / path.lstrip("/")
                if not file.is_file():
                    self.send_response(404)
                    self.end_headers()
                    return
                data = file.read_bytes()
                self.send_response(200)
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def trickle(self, part: str) -> None:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                if part == "body":
                    self.wfile.write(b"Content-Type: image/jpeg\r\n\r\n")
                for _ in range(200):
                    try:
                        self.wfile.write(b"X-Slow: 1\r\n" if part == "headers" else b"x")
                        self.wfile.flush()
                    except OSError:  # (the fetch gave up)
                        return
                    time.sleep(0.1)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, name: str) -> str:
        """Return the URL of a served file."""
        return f"{self.base}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_image(path: Path, size: tuple[int, int], fmt: str) -> Path:
    """Write a real image of ``size`` in format ``fmt`` (a gradient, so it compresses like one)."""
    from PIL import Image

    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((200, 30, 30), (0, 0, width // 4, height // 4))
    image.save(path, fmt)
    return path


@pytest.fixture(scope="session")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    """Serve real JPEG, PNG and TIFF files (and some that are not images) on loopback."""
    folder = tmp_path_factory.mktemp("origin")
    make_image(folder / "photo.jpg", (640, 480), "JPEG")
    make_image(folder / "tall.png", (300, 900), "PNG")
    make_image(folder / "scan.tif", (500, 400), "TIFF")
    make_image(folder / "small.jpg", (50, 40), "JPEG")
    (folder / "notes.txt").write_text("not an image at all\n" * 100)
    (folder / "broken.jpg").write_bytes((folder / "photo.jpg").read_bytes()[:200])
    # Audio, video and a document (tests/media.py), and what only looks like media to a sniffer.
    media.mp3(folder / "sound.mp3")
    media.video(folder / "clip.mp4", container="mp4", codec="libx264", sound="aac")
    media.video(folder / "clip.mpg")
    media.wav(folder / "sound.wav")
    media.pdf(folder / "doc.pdf")
    (folder / "fake.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(2000)
    )
    server = Origin(folder)
    yield server
    server.close()


@pytest.fixture
def served(app) -> Iterator[str]:
    """Serve the app over real HTTP on loopback; return its base URL (every IRI uses it)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    server.shutdown()


@pytest.fixture
def static_site(tmp_path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP from an origin of its own on loopback (a viewer's page, say);
    the folder and its URL."""
    import http.server
    import threading
    from functools import partial

    site = tmp_path / "site"
    site.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def pictured(app, runner, served) -> dict[str, Any]:
    """A customer with space 1, role "reg" and image "pic" carrying that role, served on HTTP."""
    made = make_customer(runner, "pictured")
    c = made["id"]
    client = app.test_client()
    headers = basic(made["key"], made["secret"])
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    client.put(f"/customers/{c}/roles/reg", json={"label": "Registered users"}, headers=headers)
    role = f"{served}/customers/{c}/roles/reg"
    body = {"string1": "before", "roles": [role]}
    client.put(f"/customers/{c}/spaces/1/images/pic", json=body, headers=headers)
    return {
        "base": served,
        "key": made["key"],
        "secret": made["secret"],
        "customer": c,
        "headers": headers,
        "role": role,
    }


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by Selenium (Debian's chromium and chromium-driver)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",  # (a test plays audio and video)
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(driver, predicate, seconds: float = 10):
    """Poll until `predicate` holds. While the console swaps its document, Chromium can fail a
    lookup with a missing node, a stale one, or an inspector error ("Node with given id does not
    belong to the document"); all are WebDriverExceptions, and polling simply goes on. A
    predicate that never holds ends in a TimeoutException after ``seconds``."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,)).until(predicate)


def text_of(driver, selector: str) -> str:
    """The text of the first element matching `selector`, read in one script run, so no node
    handle outlives a document swap between finding it and reading it."""
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        selector,
    )
    if found is None:
        from selenium.common.exceptions import NoSuchElementException

        raise NoSuchElementException(selector)
    return found
