"""Responses kept for GETs: sent again only while nothing was committed, and never for long."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, create_engine, insert, update

from app.db import Generation, generation_of
from app.models import TABLES
from tests.conftest import BASE

IMAGES = TABLES["Image"]


@pytest.fixture
def around(app):
    """Return an engine that writes to the app's database as psql would: telling no one."""
    engine = create_engine(app.extensions["dlcs.engine"].url)
    yield engine
    engine.dispose()


@pytest.fixture
def cache(app):
    """Return the app's kept responses."""
    return app.extensions["dlcs.representations"]


def _set_number(engine: Engine, customer: int, image: str, number: int) -> None:
    with engine.begin() as conn:
        changed = conn.execute(
            update(IMAGES)
            .where(IMAGES.c.customer == customer, IMAGES.c.space == 1, IMAGES.c.image == image)
            .values(number1=number)
        )
        assert changed.rowcount == 1


def _kept_image(alice, cache, image: str) -> str:
    """Keep responses for an hour, make an image with number1 = 1 and GET it once; its URL."""
    cache.seconds = 3600
    url = f"/customers/{alice.customer}/spaces/1/images/{image}"
    alice.put(url, {"number1": 1})
    assert alice.get(url).json["number1"] == 1
    return url


def test_a_get_is_answered_again_until_it_expires(alice, around, cache, monkeypatch):
    clock = [1000.0]  # the cache's clock, moved by hand
    monkeypatch.setattr("app.representations.time", SimpleNamespace(monotonic=lambda: clock[0]))
    cache.seconds = 2
    url = f"/customers/{alice.customer}/spaces/1/images/kept"
    assert alice.put(url, {"number1": 1}).status_code == 201
    first = alice.get(url)
    assert first.json["number1"] == 1
    _set_number(around, alice.customer, "kept", 2)  # behind the app's back
    clock[0] += 1.9
    again = alice.get(url)
    assert again.data == first.data  # the kept response, not a new read
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Link"] == first.headers["Link"]  # every header is still added
    assert again.headers["Content-Type"] == "application/ld+json"
    clock[0] += 0.2
    assert alice.get(url).json["number1"] == 2


def test_a_client_may_ask_for_a_response_read_anew(alice, around, cache):
    url = _kept_image(alice, cache, "anew")
    _set_number(around, alice.customer, "anew", 2)
    assert alice.get(url).json["number1"] == 1  # (kept)
    assert alice.get(url, headers={"Cache-Control": "no-cache"}).json["number1"] == 2
    assert alice.get(url).json["number1"] == 2  # what was read anew is kept instead
    _set_number(around, alice.customer, "anew", 3)
    assert alice.get(url, headers={"Cache-Control": "max-age=7"}).json["number1"] == 2
    assert alice.get(url, headers={"Cache-Control": "max-age=0"}).json["number1"] == 3


def test_every_write_through_the_app_is_seen_by_the_next_get(alice, cache):
    url = _kept_image(alice, cache, "written")
    alice.patch(url, {"number1": 2})
    assert alice.get(url).json["number1"] == 2
    alice.put(url, {"number1": 3})
    assert alice.get(url).json["number1"] == 3
    listing = f"/customers/{alice.customer}/spaces/1/images"
    assert alice.get(listing).json["totalItems"] == 1
    assert alice.delete(url).status_code == 205
    assert alice.get(url).status_code == 404
    assert alice.get(listing).json["totalItems"] == 0


def test_a_commit_by_another_process_of_this_host_is_seen_at_once(app, alice, cache):
    url = _kept_image(alice, cache, "shared")
    database = app.extensions["dlcs.engine"].url.render_as_string(hide_password=False)
    # Another process (as a `dlcs` command or an ingest worker would) commits through the
    # app's engine; it shares nothing with this one but the database and the generation file.
    code = (
        "import sys\n"
        "from sqlalchemy import update\n"
        "from app.db import make_engine\n"
        "from app.models import TABLES\n"
        "t = TABLES['Image']\n"
        "engine = make_engine(sys.argv[1])\n"
        "with engine.begin() as conn:\n"
        "    conn.execute(update(t).where(t.c.image == 'shared').values(number1=7))\n"
    )
    subprocess.run([sys.executable, "-c", code, database], check=True, timeout=60)
    assert alice.get(url).json["number1"] == 7


def test_a_response_is_kept_for_what_it_depends_on(alice, admin, around, cache):
    cache.seconds = 3600
    c = alice.customer
    url = f"/customers/{c}/spaces/1/images/keyed"
    alice.put(url, {"number1": 1})
    as_jsonld = alice.get(url)
    as_turtle = alice.get(url, headers={"Accept": "text/turtle"})
    assert as_turtle.mimetype == "text/turtle"
    assert alice.get(url).data == as_jsonld.data
    assert alice.get(url, headers={"Accept": "text/turtle"}).data == as_turtle.data
    other_host = alice.client.get(url, headers=alice.headers, base_url="http://example.org")
    assert other_host.json["@id"] == f"http://example.org/customers/{c}/spaces/1/images/keyed"
    assert alice.get(url).json["@id"] == f"{BASE}/customers/{c}/spaces/1/images/keyed"
    # Who asks: an admin sees every customer, a customer only itself.
    everyone = admin.get("/customers").json["totalItems"]
    assert everyone == 2
    assert alice.get("/customers").json["totalItems"] == 1
    assert admin.get("/customers").json["totalItems"] == 2
    # The query: another page, or page size, is another response.
    listing = f"/customers/{c}/spaces/1/images"
    alice.put(f"{listing}/second", {"number1": 2})
    assert len(alice.get(f"{listing}?pageSize=1").json["member"]) == 1
    assert len(alice.get(f"{listing}?pageSize=2").json["member"]) == 2


def test_only_successful_responses_are_kept(alice, around, cache):
    cache.seconds = 3600
    c = alice.customer
    url = f"/customers/{c}/spaces/1/images/later"
    assert alice.get(url).status_code == 404
    with around.begin() as conn:  # created behind the app's back
        conn.execute(
            insert(IMAGES).values(
                customer=c,
                space=1,
                image="later",
                created=dt.datetime.now(dt.UTC),
                origin="",
                maxUnauthorised=-1,
                ingesting=False,
                error="",
                string1="",
                string2="",
                string3="",
                number1=5,
                number2=0,
                number3=0,
                duration=0,
                family="I",
            )
        )
    assert alice.get(url).json["number1"] == 5  # the 404 was not kept


def test_the_console_is_never_kept(alice, cache):
    cache.seconds = 3600
    url = f"/customers/{alice.customer}/spaces/1/images/page"
    alice.put(url, {"number1": 1})
    cache.clear()
    html = alice.get(url, headers={"Accept": "text/html"})
    assert html.mimetype == "text/html"
    assert cache.kept == {}
    alice.get(url)
    assert len(cache.kept) == 1


def test_a_kept_response_answers_a_conditional_get(alice, cache):
    cache.seconds = 3600
    url = f"/customers/{alice.customer}/spaces/1/images/tagged"
    alice.put(url, {"number1": 1})
    tag = alice.get(url).headers["ETag"]
    assert alice.get(url).headers["ETag"] == tag  # (kept)
    unchanged = alice.get(url, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.data == b""


def test_turned_off_every_get_reads(alice, around, cache):
    cache.seconds = 0
    url = f"/customers/{alice.customer}/spaces/1/images/off"
    alice.put(url, {"number1": 1})
    assert alice.get(url).json["number1"] == 1
    _set_number(around, alice.customer, "off", 2)
    assert alice.get(url).json["number1"] == 2
    assert cache.kept == {}


def test_kept_bodies_stay_within_their_bound(alice, cache):
    cache.seconds = 3600
    images = f"/customers/{alice.customer}/spaces/1/images"
    for n in range(10):
        alice.put(f"{images}/b{n}", {"number1": n})
    size = len(alice.get(f"{images}/b0").data)
    cache.clear()
    cache.max_bytes = size * 8 + size // 2  # room for eight (a response may take up to 1/8)
    for n in range(10):
        assert alice.get(f"{images}/b{n}").json["number1"] == n
    assert len(cache.kept) == 8
    assert cache.size == sum(len(k.body) for k in cache.kept.values()) <= cache.max_bytes
    kept_images = [key[0].rsplit("/", 1)[1] for key in cache.kept]
    assert kept_images == [f"b{n}" for n in range(2, 10)]  # the oldest went first
    cache.max_bytes = size * 8 - 1  # now too small to keep any one of them
    cache.clear()
    alice.get(f"{images}/b0")
    assert cache.kept == {}


def test_a_generation_is_shared_through_its_file(tmp_path):
    path = tmp_path / "db-generation"
    one, other = Generation(path), Generation(path)  # as two processes map it
    before = other.current()
    one.advance()
    assert other.current() != before
    seen = set()
    for _ in range(100):
        one.advance()
        seen.add(other.current())
    assert len(seen) == 100  # every commit leaves a value of its own
    assert Generation(path).current() == one.current()  # a later process finds it as left


def test_a_generation_that_cannot_be_shared_is_this_process_s_own(monkeypatch, tmp_path, caplog):
    blocked = tmp_path / "a file"
    blocked.write_text("")  # the temporary folder is a file: nothing can be made inside it
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(blocked))
    generation = generation_of("postgresql+psycopg://db.example:5432/elsewhere")
    before = generation.current()
    generation.advance()
    assert generation.current() != before
    assert "cannot be shared" in caplog.text


def test_an_idle_ingest_queue_commits_nothing(app, alice, cache):
    # The embedded queue polls every second in every process; a poll that finds no job must
    # not empty everybody's kept responses.
    queue = app.extensions["dlcs.queue"]
    before = cache.generation.current()
    assert queue.run_one() is False
    assert cache.generation.current() == before


def test_no_get_is_older_than_a_write_that_was_answered_before_it(app, alice, cache):
    # Threads of one process (WEB_THREADS > 1): one writes number1 = 1, 2, 3, ... and notes
    # each value once its PATCH is answered; readers note that value before each GET, and the
    # GET must show it or a later one, however its finding, reading and keeping interleave.
    cache.seconds = 3600
    url = f"/customers/{alice.customer}/spaces/1/images/raced"
    alice.put(url, {"number1": 0})
    answered = [0]
    stale: list[tuple[int, int]] = []
    stop = threading.Event()

    def write() -> None:
        writer = app.test_client()
        for number in range(1, 40):
            response = writer.patch(
                url,
                data=json.dumps({"number1": number}),
                headers={**alice.headers, "Content-Type": "application/ld+json"},
            )
            assert response.status_code == 200
            answered[0] = number
        stop.set()

    def read() -> None:
        reader = app.test_client()
        while not stop.is_set():
            floor = answered[0]
            seen = reader.get(url, headers=alice.headers).get_json()["number1"]
            if seen < floor:
                stale.append((floor, seen))
            time.sleep(0)  # let the writer have the interpreter between GETs

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answered[0] == 39
    assert stale == []
