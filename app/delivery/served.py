"""Delivery's HTTP: ``/iiif-img``, ``/thumbs``, ``/auth``, the manifests (``/iiif-resource``,
``/iiif-manifest``), audio and video (``/iiif-av``) and files (``/file``) answered by a WSGI
application of their own.

A viewer asks for dozens of tiles a second, and sending a stored tile costs less than Flask's
handling of the request around it (its contexts, its routing, the API's after-request hooks
for CORS, ETags and the documentation link): in one process, 363 us of CPU for a stored tile
through Flask, 137 here; info.json 318 and 98 (bench/RESULTS.md, 2026-12-07). So
:class:`Delivery` sits in front of the Flask app, answers the paths of delivery and hands
every other request on. What each of its responses says is written once, in
:meth:`Delivery.send`: any origin may read it (CORS ``*``, preflights answered), a strong
ETag made from the image's registration and the request (304 when the client has it already;
a re-ingested image never matches an earlier tag), ``Cache-Control`` for the caches in front,
HEAD, a stored file whole or by ``Range``; and every error is the API's Error body.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

from flask import Flask
from sqlalchemy import Select, and_, bindparam, select
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_etags, parse_range_header
from werkzeug.wsgi import get_host

from app.delivery.access import OPEN, Rule, check
from app.delivery.iiif import Limits
from app.delivery.images import CONTEXTS
from app.storage.files import Files
from app.storage.models import CHILDREN, MAX_INTEGER, TABLES
from app.web import jsonld
from app.web.errors import ApiError, error_document, told, unexpected
from app.web.sessions import Sessions

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ROOTS = (
    "/iiif-img/", "/thumbs/", "/auth/", "/iiif-resource/", "/iiif-manifest/", "/iiif-av/", "/file/",
)  # fmt: skip
_STATUS = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_METHODS = "GET, HEAD, OPTIONS"
# (what a client's script may read of a response: the canonical link, the ETag, a redirect,
# a range's place in a file)
_CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "Link, ETag, Location, Content-Range, Accept-Ranges"),
]


@dataclass
class Reply:
    """What a delivery route answers: a body, and what caches may keep of it.

    ``tag``: what the ETag is made of (the registration's generation first, then whatever else
    tells this response from the others of the image); None for a response nobody keeps.
    ``private``: a response of an image with roles, which only the caller's browser may keep,
    asking again each time (who may see it can change at any moment).
    ``stream``: instead of ``body``, a stored file of ``length`` bytes, sent a chunk at a time
    from where a ``Range`` asks (``stream(start, stop)``: its bytes from ``start`` up to
    ``stop``, or None when the file is gone).
    """

    body: bytes
    media_type: str = ""
    status: int = 200
    tag: tuple[Any, ...] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    private: bool = False
    max_age: int | None = None  # (how long caches may keep it; None: DELIVERY_MAX_AGE)
    stream: Callable[[int, int], Iterable[bytes] | None] | None = None
    length: int = 0


def redirect(location: str) -> Reply:
    """Return a 303 to ``location``."""
    return Reply(b"", status=303, headers=[("Location", location)])


@dataclass(frozen=True)
class Asked:
    """A request to delivery: the public base URL, and the segments of its path, decoded."""

    environ: dict[str, Any]
    base: str
    segments: list[str]

    @property
    def accept(self) -> str:
        """The request's Accept header."""
        return self.environ.get("HTTP_ACCEPT", "")

    @property
    def head(self) -> bool:
        """Whether the request is a HEAD."""
        return bool(self.environ["REQUEST_METHOD"] == "HEAD")


@dataclass(frozen=True)
class ImageKey:
    """The image a delivery path names."""

    customer: int
    space: int
    image: str

    def keys(self) -> dict[str, Any]:
        """Return the image's primary key."""
        return {"customer": self.customer, "space": self.space, "image": self.image}

    def name(self) -> str:
        """Return how errors name the image."""
        return f"image {self.image} of space {self.space} of customer {self.customer}"

    def service(self, asked: Asked, root: str) -> str:
        """Return the URL of the image's service under ``root`` (``/iiif-img/v2``, ``/thumbs``)."""
        return self.url(asked.base, root)

    def url(self, base: str, root: str) -> str:
        """Return the URL of the image's service under ``root``, below the public base URL."""
        return f"{base}{root}/{self.customer}/{self.space}/{quote(self.image, safe='')}"


def image_key(segments: list[str]) -> ImageKey:
    """Return the image that the path segments ``customer/space/image`` name; 404 if none."""
    if len(segments) == 3:
        customer, space = number(segments[0]), number(segments[1])
        if customer is not None and space is not None:
            return ImageKey(customer, space, segments[2])
    raise ApiError(404, "There is no such image: delivery paths are /{customer}/{space}/{image}.")


def number(text: str) -> int | None:
    """Return the number a path segment names (a customer's, a space's), or None if none."""
    # (ASCII digits only, and no larger than a key holds: any other names nothing)
    if text.isascii() and text.isdigit() and int(text) <= MAX_INTEGER:
        return int(text)
    return None


_IMAGES = TABLES["Image"]
_ROLES = CHILDREN["Image"]["roles"]
# What serving an image needs of its row, and its roles (a row for each; one with none).
_REGISTRATION = (
    select(
        _IMAGES.c.ingest_generation,
        _IMAGES.c.ingesting,
        _IMAGES.c.error,
        _IMAGES.c.width,
        _IMAGES.c.media_type,
        _IMAGES.c.maxUnauthorised,
        _ROLES.c.value,
    )
    .select_from(
        _IMAGES.outerjoin(
            _ROLES, and_(*(_ROLES.c[k] == _IMAGES.c[k] for k in ("customer", "space", "image")))
        )
    )
    .where(*(_IMAGES.c[k] == bindparam(k) for k in ("customer", "space", "image")))
)


@dataclass(frozen=True)
class Registration:
    """What delivery reads of an image's row: its registration's generation, who may see it."""

    generation: int
    rule: Rule


@lru_cache(maxsize=256)
def wants_json_ld(accept: str) -> bool:
    """Whether an Accept header prefers JSON-LD to JSON (an info.json is JSON unless asked)."""
    asked = jsonld.accepted(accept)
    return asked.quality(jsonld.JSONLD) > asked.quality(jsonld.JSON)


def info_reply(
    doc: dict[str, Any], asked: Asked, version: int, registration: Registration, *parts: Any
) -> Reply:
    """Return an info.json: JSON-LD with the Image API's profile when asked for by name."""
    if wants_json_ld(asked.accept):
        media_type = f'{jsonld.JSONLD};profile="{CONTEXTS[version]}"'
    else:
        media_type = jsonld.JSON
    tag = (registration.generation, version, media_type, *parts)
    private = registration.rule.restricted
    return Reply(
        jsonld.dumps(doc), media_type, tag=tag, headers=[("Vary", "Accept")], private=private
    )


class Delivery:
    """The WSGI application of delivery, in front of the Flask app ``app``.

    ``route`` answers a request whose path begins with one of :data:`ROOTS`; every other
    request goes on to ``app``'s own WSGI application.
    """

    def __init__(self, app: Flask, route: Callable[[Delivery, Asked], Reply]) -> None:
        self.config = app.config
        self.reader = app.extensions["dlcs.reader"]
        # (statements as the driver takes them, compiled once each: see :meth:`rows`)
        self.compiled: dict[Select, tuple[str, tuple[str, ...] | None]] = {}
        self.files: Files = app.extensions["dlcs.files"]
        self.sessions = Sessions(app.config, app.extensions["dlcs.engine"])
        self.route = route
        self.next: WSGIApp = app.wsgi_app

    def rows(self, statement: Select, keys: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Return the rows of one of storage's SELECTs by an image's key (``keys``: the values
        of its bound parameters).

        Run on the driver's own cursor, of a connection of the read engine's pool (pinged,
        replaced when dropped, returned at once), with the statement compiled for it once:
        SQLAlchemy's Connection and Result around this one SELECT took half of the CPU of a
        stored tile, an info.json or a thumbnail, and more than half of a range of a video's
        (bench/RESULTS.md has the runs side by side).
        """
        found = self.compiled.get(statement)
        if found is None:
            compiled = statement.compile(dialect=self.reader.dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = self.compiled[statement] = (str(compiled), order)
        sql, order = found
        parameters = tuple(keys[name] for name in order) if order is not None else dict(keys)
        conn = self.reader.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, parameters)
            rows = cursor.fetchall()
            cursor.close()
        finally:
            conn.close()
        return rows

    def limits(self) -> Limits:
        """Return the largest result the Image API makes."""
        side = int(self.config["IIIF_MAX_WIDTH"])
        return Limits(max_width=side, max_height=side, max_area=int(self.config["IIIF_MAX_AREA"]))

    def registration(self, image: ImageKey) -> Registration:
        """Return the registration of an image and its access rule; 404 saying why it cannot
        be served (read by :meth:`rows`)."""
        rows = self.rows(_REGISTRATION, image.keys())
        if not rows:
            raise ApiError(404, f"There is no {image.name()}.")
        generation, ingesting, error, width, media_type, max_unauthorised, _role = rows[0]
        if ingesting:
            raise ApiError(404, f"The {image.name()} is being ingested; ask again once it is.")
        if error:
            raise ApiError(404, f"The ingest of the {image.name()} failed: {error}")
        if width is None or not (media_type or "").startswith("image/"):
            kind = media_type or "not ingested"
            raise ApiError(404, f"The {image.name()} is not an image ({kind}).")
        roles = frozenset(row[-1] for row in rows if row[-1] is not None)
        rule = Rule(int(max_unauthorised), roles) if roles else OPEN
        return Registration(int(generation), rule)

    def allow(self, image: ImageKey, rule: Rule, asked: Asked, *, token: bool = False) -> None:
        """Fail with 401 or 403 unless the request's session holds one of the image's roles.

        The session is the one its cookie names; a bearer token's is taken only where
        ``token`` says (the probe) and for HEAD: an access token opens no pixels.
        """
        held = self.sessions.held(asked.environ, image.customer, token=token or asked.head)
        check(rule, held, image.name())

    def sees_all(self, image: ImageKey, rule: Rule, asked: Asked) -> bool:
        """Whether the request may see all of the image (it has no roles, or the request's
        session holds one)."""
        if not rule.restricted:
            return True
        held = self.sessions.held(asked.environ, image.customer, token=asked.head)
        return held is not None and bool(held & rule.roles)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("PATH_INFO", "").startswith(ROOTS):
            return self.next(environ, start_response)
        scheme, root = environ["wsgi.url_scheme"], environ.get("SCRIPT_NAME", "")
        base = ""  # (a Host not trusted: its error's IRIs are on the first trusted host's)
        try:
            base = self.config.get("PUBLIC_BASE_URL") or jsonld.root_url(
                scheme, get_host(environ, self.config["TRUSTED_HOSTS"]), root
            )
            asked = Asked(environ, base, _segments(environ))
            method = environ["REQUEST_METHOD"]
            if method == "OPTIONS":
                reply = _preflight(environ)
            elif method in ("GET", "HEAD") or (method == "POST" and asked.segments[0] == "auth"):
                reply = self.route(self, asked)  # (POST: an access service's confirmation)
            else:
                raise ApiError(405, f"{method} is not allowed here.", headers={"Allow": _METHODS})
        except HTTPException as exc:
            base = base or jsonld.untrusted_base(scheme, self.config, root)
            reply = self.error(environ, base, exc)
        except Exception as exc:
            error = unexpected(exc, self.config["STATEMENT_TIMEOUT"])
            log.exception("unhandled error on %s %s", environ["REQUEST_METHOD"], sent(environ))
            reply = self.error(environ, base, error)
        return self.send(environ, base, reply, start_response)

    def send(
        self, environ: dict[str, Any], base: str, reply: Reply, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Start the response of ``reply``; return its body (none for HEAD or 304)."""
        headers = [*_CORS, *reply.headers]
        status, body = reply.status, reply.body
        etag = None
        if reply.tag is not None:
            digest = hashlib.blake2b(repr((base, *reply.tag)).encode(), digest_size=16)
            etag = digest.hexdigest()
            if reply.private:
                cache = "private, no-cache"
                headers.append(("Vary", "Cookie, Authorization"))
            else:
                age = (
                    reply.max_age if reply.max_age is not None else self.config["DELIVERY_MAX_AGE"]
                )
                cache = f"public, max-age={int(age)}"
            headers += [("ETag", f'"{etag}"'), ("Cache-Control", cache)]
            asked_for = environ.get("HTTP_IF_NONE_MATCH")
            if asked_for and parse_etags(asked_for).contains_weak(etag):
                status, body = 304, b""
        if reply.stream is not None and status == 200:
            return self._send_file(environ, base, reply, headers, etag, start_response)
        if status != 304:
            if reply.media_type:
                headers.append(("Content-Type", reply.media_type))
            headers.append(("Content-Length", str(len(body))))
        start_response(_STATUS[status], headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _send_file(
        self,
        environ: dict[str, Any],
        base: str,
        reply: Reply,
        headers: list[tuple[str, str]],
        etag: str | None,
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        # A stored file, whole or the one range a Range header asks for (RFC 9110, 14).
        assert reply.stream is not None
        length = reply.length
        span = _span(environ, etag, length)
        if span is None:
            message = f"The range asked for is not within the file's {length} bytes."
            error = ApiError(416, message, headers={"Content-Range": f"bytes */{length}"})
            return self.send(environ, base, self.error(environ, base, error), start_response)
        start, stop, partial = span
        status = 206 if partial else 200
        headers += [("Accept-Ranges", "bytes"), ("Content-Type", reply.media_type)]
        headers.append(("Content-Length", str(stop - start)))
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{length}"))
        if environ["REQUEST_METHOD"] == "HEAD" or stop == start:
            start_response(_STATUS[status], headers)
            return []
        chunks = reply.stream(start, stop)
        if chunks is None:  # (deleted, or registered again, since its row was read)
            error = ApiError(404, "The file was removed while it was asked for.")
            return self.send(environ, base, self.error(environ, base, error), start_response)
        start_response(_STATUS[status], headers)
        return chunks

    def error(self, environ: dict[str, Any], base: str, exc: HTTPException) -> Reply:
        """Return the Error body of ``exc`` (JSON-LD, or JSON when that is preferred)."""
        exc = told(exc)
        code = exc.code or 500
        description = exc.description or HTTPStatus(code).phrase
        violations = getattr(exc, "violations", [])
        doc = error_document(code, description, violations, base, base + sent(environ))
        accept = environ.get("HTTP_ACCEPT", "")
        media_type = jsonld.best_match(accept, (jsonld.JSONLD, jsonld.JSON)) or jsonld.JSONLD
        headers = [
            ("Link", jsonld.documentation_link(base)),
            ("Vary", "Accept"),
            ("Cache-Control", "no-cache"),
            *getattr(exc, "extra_headers", {}).items(),
        ]
        return Reply(jsonld.dumps(doc), media_type, code, headers=headers)


def _span(environ: dict[str, Any], etag: str | None, length: int) -> tuple[int, int, bool] | None:
    """Return the bytes (start, stop) of a file of ``length`` to send for the request's
    Range header, and whether they are the range asked for (206).

    All of them, not as a range: when it asks for none, for one that is malformed or not in
    bytes, for several (sent whole, as RFC 9110 allows), or when its If-Range names another
    ETag than ``etag`` (compared strongly; a date never matches: no Last-Modified is sent).
    None: the one range asked for starts past the end (416).
    """
    whole = (0, length, False)
    asked = environ.get("HTTP_RANGE")
    if not asked:
        return whole
    condition = environ.get("HTTP_IF_RANGE")
    if condition is not None and (etag is None or condition.strip() != f'"{etag}"'):
        return whole
    parsed = parse_range_header(asked)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return whole
    span = parsed.range_for_length(length)
    return None if span is None else (*span, True)


def _preflight(environ: dict[str, Any]) -> Reply:
    # Any origin may send any request delivery answers, with whatever headers it asks to.
    headers = [("Allow", _METHODS), ("Access-Control-Allow-Methods", _METHODS)]
    wanted = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
    if wanted:
        headers.append(("Access-Control-Allow-Headers", wanted))
    headers.append(("Access-Control-Max-Age", "600"))
    return Reply(b"", headers=headers)


def sent(environ: dict[str, Any]) -> str:
    """Return the path and query as the client sent them (from the server's request line, if
    it kept it)."""
    line = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if line:
        parts = urlsplit(line)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    return quote(path.encode("latin-1")) + (f"?{query}" if query else "")


_CONTROL = re.compile("[\x00-\x1f]")


def _segments(environ: dict[str, Any]) -> list[str]:
    """Return the segments of the request's path below its root, each decoded from UTF-8.

    Split as sent, before percent-decoding, so that an image id holding ``/`` (sent as
    ``%2F``) stays one segment; 400 for a segment whose bytes are not UTF-8.
    """
    sent = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    script = environ.get("SCRIPT_NAME", "")
    if sent and not script:
        raw = [unquote_to_bytes(part) for part in urlsplit(sent).path.split("/")[1:]]
    else:  # (WSGI gives PATH_INFO decoded, as the bytes of the path one character each)
        raw = [part.encode("latin-1") for part in environ["PATH_INFO"].split("/")[1:]]
    try:
        segments = [part.decode("utf-8") for part in raw]
    except UnicodeDecodeError:
        raise ApiError(400, "The path is not UTF-8 once percent-decoded.") from None
    # (no id, name or argument holds one; PostgreSQL refuses NUL in any text it is given)
    if any(_CONTROL.search(segment) for segment in segments):
        raise ApiError(400, "The path holds a control character (U+0000 to U+001F).")
    return segments
