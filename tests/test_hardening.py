"""What an attacker and a fault injector tried: each is refused or bounded, never a 500."""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path

import pytest
import requests

from app.ingest.derivatives import thumbnail_dir


def image_url(api, image: str, space: int = 1) -> str:
    return f"/customers/{api.customer}/spaces/{space}/images/{image}"


def thumbnail_files(app) -> set[Path]:
    return set(Path(app.config["STORAGE_DIR"]).rglob("*.jpg"))


# -- storage paths are never built from raw ids ----------------------------------------------


@pytest.mark.parametrize("image", ["..", ".", "a/../..", "%2E%2E", "x\\..\\.."])
def test_thumbnail_folder_stays_inside_its_space(tmp_path, image):
    storage = tmp_path / "storage"
    folder = thumbnail_dir(str(storage), {"customer": 3, "space": 4, "image": image})
    space = (storage / "thumbs" / "3" / "4").resolve()
    assert folder.resolve().parent == space


@pytest.mark.parametrize("image", ["%2E%2E", "%2E", "..", "."])
def test_dot_ids_are_refused_and_other_thumbnails_survive(app, alice, origin, image):
    assert alice.put(image_url(alice, "a"), {"origin": origin.url("photo.jpg")}).status_code == 201
    before = thumbnail_files(app)
    assert before
    r = alice.put(image_url(alice, image), {"origin": origin.url("photo.jpg")})
    assert r.status_code in (400, 404), r.data
    assert alice.delete(image_url(alice, image)).status_code in (400, 404)
    assert thumbnail_files(app) == before
    assert alice.get(image_url(alice, "a")).get_json()["width"] == 640


def test_queued_dot_id_is_refused(app, alice, origin):
    assert alice.put(image_url(alice, "a"), {"origin": origin.url("photo.jpg")}).status_code == 201
    before = thumbnail_files(app)
    body = {"@type": "Collection", "member": [{"id": "..", "space": 1, "origin": "x"}]}
    r = alice.post(f"/customers/{alice.customer}/queue", body)
    assert r.status_code == 400
    assert r.get_json()["violations"][0]["propertyPath"] == "member[0].id"
    assert thumbnail_files(app) == before


# -- one URL per resource ---------------------------------------------------------------------


def test_full_width_digits_name_no_space(alice):
    assert alice.get(f"/customers/{alice.customer}/spaces/1").status_code == 200
    assert alice.get(f"/customers/{alice.customer}/spaces/%EF%BC%91").status_code == 404
    assert alice.get(f"/customers/{alice.customer}/spaces/%C2%B9").status_code == 404


@pytest.mark.parametrize("raw", ["%FF", "%FE", "a%C3", "%ED%A0%80"])
def test_ids_that_are_not_utf8_are_refused(alice, raw):
    r = alice.put(image_url(alice, raw), {"string1": "x"})
    assert r.status_code == 400
    assert "UTF-8" in r.get_json()["description"]
    assert alice.get(image_url(alice, raw)).status_code == 400
    assert alice.get(f"/customers/{alice.customer}/spaces/1/images").get_json()["totalItems"] == 0


def test_a_replacement_character_sent_as_utf8_is_an_ordinary_id(alice):
    assert alice.put(image_url(alice, "%EF%BF%BD"), {"string1": "x"}).status_code == 201
    assert alice.get(image_url(alice, "%EF%BF%BD")).status_code == 200


# -- ingest records what happened, when it happened ---------------------------------------------


def test_finished_is_when_ingest_ended(alice, origin):
    r = alice.put(image_url(alice, "slow"), {"origin": origin.url("delay/1500/photo.jpg")})
    doc = r.get_json()
    assert doc["width"] == 640
    took = dt.datetime.fromisoformat(doc["finished"]) - dt.datetime.fromisoformat(doc["created"])
    assert took >= dt.timedelta(seconds=1.4)


@pytest.mark.parametrize(
    "origin_url",
    [
        "http://[::1",
        "http://" + "a" * 300 + "/x.jpg",
        "http://a..b/x.jpg",
        "http://[::1]:99999/x.jpg",
        "http:///x.jpg",
        "http://exa mple.org/x.jpg",
    ],
)
def test_malformed_origins_give_the_image_a_clear_error(alice, caplog, origin_url):
    r = alice.put(image_url(alice, "bad"), {"origin": origin_url})
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["ingesting"] is False
    assert "not a valid URL" in doc["error"], doc["error"]
    assert "unexpectedly" not in caplog.text


# -- a slow client holds no lock ----------------------------------------------------------------


def test_a_patch_whose_body_is_slow_to_come_holds_no_lock(app, alice, bob, served):
    """A PATCH that declares 15 bytes and sends 5 keeps no other write waiting."""
    path = image_url(alice, "a")
    made = requests.put(served + path, json={"string1": "x"}, headers=alice.headers, timeout=10)
    assert made.status_code == 201
    host, port = served.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    try:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\n{_header_lines(alice.headers)}"
            "Content-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        )
        slow.sendall(head.encode() + b'{"str')
        time.sleep(0.3)  # (the server has read what was sent, and waits for the rest)
        started = time.monotonic()
        other = requests.put(
            served + image_url(bob, "b"), json={"string1": "y"}, headers=bob.headers, timeout=10
        )
        same = requests.patch(
            served + path, json={"string2": "z"}, headers=alice.headers, timeout=10
        )
        took = time.monotonic() - started
    finally:
        slow.close()
    assert other.status_code == 201
    assert same.status_code == 200
    assert took < 5, f"writes waited {took:.1f} s behind a slow PATCH"


def _header_lines(headers: dict[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())
