"""Responses to GETs kept in memory and sent again while the database has not changed.

Reading a resource or a page and rendering it costs most of a GET; sending bytes already
made costs little. A response is kept with the database's generation (:class:`app.db.Generation`)
at the moment its reading began, and is sent again only while the generation is still that
one. Every commit made through this app, in any process of this host that uses the same
database (web workers, the CLI, ingest workers), changes the generation before the writer
answers, so a GET that follows a write always sees it. A change made some other way (by a
process on another host, or by SQL typed into the database) is seen once the response
expires, after ``DLCS_RESPONSE_CACHE_SECONDS`` (0 turns the cache off).

What a response depends on is its key: the path and query, the Accept header, the public
base URL and the caller (a collection of customers depends on who asks). Only 200 responses
in JSON-LD, JSON and the RDF syntaxes are kept; the HTML console reads a cookie and is not.
A request with ``Cache-Control: no-cache`` (or ``max-age=0``) is answered from the database,
and its response kept in place of the old one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from flask import Flask, Response, current_app, request

from app import auth, jsonld
from app.caching import etag_for
from app.db import Generation, generation_of


@dataclass(frozen=True, slots=True)
class Kept:
    """A response kept: its bytes, media type and ETag, and what it is good for."""

    generation: int
    expires: float
    body: bytes
    media_type: str
    etag: str

    def response(self) -> Response:
        """Return the response to send again."""
        resp = current_app.response_class(self.body, mimetype=self.media_type)
        resp.headers["ETag"] = self.etag
        return resp


class Representations:
    """The responses one process keeps, up to ``max_bytes`` of bodies, oldest dropped first."""

    def __init__(self, generation: Generation, seconds: float, max_bytes: int) -> None:
        self.generation, self.seconds, self.max_bytes = generation, seconds, max_bytes
        self.kept: dict[Hashable, Kept] = {}
        self.size = 0
        self.seen = generation.current()
        self.lock = threading.Lock()

    def find(self, key: Hashable) -> Kept | None:
        """Return the response kept for ``key`` if it is still as new as the database."""
        now = self.generation.current()
        if now != self.seen:
            self.clear(now)  # everything kept is older than the last commit
            return None
        kept = self.kept.get(key)
        if kept is None or kept.generation != now or kept.expires <= time.monotonic():
            return None
        return kept

    def keep(self, key: Hashable, generation: int, resp: Response) -> None:
        """Keep a response made from what was read under ``generation``, if it can be sent again."""
        if resp.status_code != 200 or resp.direct_passthrough:
            return
        if generation != self.generation.current():
            return  # a commit came while it was read: it may be older already
        media_type = resp.mimetype or ""
        if media_type == jsonld.HTML:
            return
        body = resp.get_data()
        if len(body) > self.max_bytes // 8:
            return  # (one response never pushes out most of the others)
        etag = etag_for(body, media_type)
        resp.headers["ETag"] = etag  # (what the response would be given anyway)
        kept = Kept(generation, time.monotonic() + self.seconds, body, media_type, etag)
        with self.lock:
            old = self.kept.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            while self.kept and self.size + len(body) > self.max_bytes:
                self.size -= len(self.kept.pop(next(iter(self.kept))).body)
            self.kept[key] = kept
            self.size += len(body)

    def clear(self, generation: int | None = None) -> None:
        """Drop every response (noting the generation they were dropped for)."""
        with self.lock:
            self.kept.clear()
            self.size = 0
            self.seen = self.generation.current() if generation is None else generation


def reused(make: Callable[[], Response]) -> Response:
    """Answer a GET with the response kept for it, or with ``make()``, keeping that."""
    cache: Representations = current_app.extensions["dlcs.representations"]
    if cache.seconds <= 0:
        return make()
    accept = request.headers.get("Accept", "")
    if jsonld.best_match(accept) == jsonld.HTML:
        return make()
    key = (request.path, request.query_string, accept, jsonld.base_url(), auth.caller())
    # A client may ask for a response read anew (Cache-Control: no-cache or max-age=0, as
    # of any cache on the way), after a change made around this host, say; it is kept instead.
    anew = "HTTP_CACHE_CONTROL" in request.environ and (
        bool(request.cache_control.no_cache) or request.cache_control.max_age == 0
    )
    kept = None if anew else cache.find(key)
    if kept is not None:
        return kept.response()
    generation = cache.generation.current()  # before anything is read
    resp = make()
    cache.keep(key, generation, resp)
    return resp


def init_app(app: Flask) -> None:
    """Give the app its cache of responses, watching its database's generation."""
    engine = app.extensions["dlcs.engine"]
    app.extensions["dlcs.representations"] = Representations(
        generation_of(engine.url),
        float(app.config["RESPONSE_CACHE_SECONDS"]),
        int(float(app.config["RESPONSE_CACHE_MB"]) * 2**20),
    )
