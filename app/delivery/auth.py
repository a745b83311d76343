"""IIIF Authorization Flow 2.0: the probe, access, token and logout services, under ``/auth/v2``.

- ``probe/{c}/{s}/{id}``: always HTTP 200, an ``AuthProbeResult2`` whose ``status`` says
  whether the caller (its cookie, or the bearer token the token service gave) may see all of
  the image (or the audio, video or file): 200, 401 (no session) or 403 (a session without
  the image's roles).
- ``access/{c}/{role}``: the role's access service, opened by a viewer in a window of its own.
  With ``?grant=`` (an AuthGrant, :mod:`app.api.access`) it turns the grant into the session
  cookie; else, for a ``clickthrough`` role, a page with the role's heading, note and confirm
  button, whose confirmation does; for a ``login`` role, it sends the user to the customer's
  own sign-in page with ``returnUrl``, which sends them back with a grant.
- ``token/{c}``: the page a viewer loads in a hidden frame with ``messageId`` and ``origin``:
  it posts the session as an ``AuthAccessToken2`` to that origin only (or an
  ``AuthAccessTokenError2``).
- ``logout/{c}``: ends the session.

A session holds roles of one customer; being granted one more keeps those it held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from jinja2 import Environment, PackageLoader
from sqlalchemy import Connection, select

from app.delivery import media
from app.delivery.served import Asked, Delivery, ImageKey, Reply, image_key, number
from app.storage.models import TABLES
from app.web.errors import ApiError
from app.web.jsonld import JSON, dumps
from app.web.urls import browser_url_fault

CONTEXT = "http://iiif.io/api/auth/2/context.json"
_PAGES = Environment(loader=PackageLoader("app", "templates"), autoescape=True)
_ROLES = TABLES["Role"]
# (pages of the flow: never kept; the token page may be framed by any viewer, and no page that
# confirms something (or ends a session) may be framed by any: a framed form posts as its own)
_NOT_KEPT = ("Cache-Control", "no-store")
_FRAMABLE = ("Content-Security-Policy", "frame-ancestors *")
_NOT_FRAMED = [
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
    _NOT_KEPT,
]


def route(delivery: Delivery, asked: Asked, segments: list[str]) -> Reply:
    """Answer a request below ``/auth``."""
    if segments[:1] != ["v2"] or len(segments) < 3:
        raise ApiError(404, "IIIF Auth 2 services are at /auth/v2/{probe,access,token,logout}/.")
    service, rest = segments[1], segments[2:]
    if asked.environ["REQUEST_METHOD"] == "POST" and service != "access":
        raise ApiError(405, "POST is not allowed here.", headers={"Allow": "GET, HEAD, OPTIONS"})
    if service == "probe":
        return probe(delivery, asked, image_key(rest))
    customer = _customer(rest[0])
    if service == "access" and len(rest) == 2:
        return access(delivery, asked, customer, rest[1])
    if service == "token" and len(rest) == 1:
        return token(delivery, asked, customer)
    if service == "logout" and len(rest) == 1:
        return logout(delivery, asked, customer)
    raise ApiError(404, f"There is no such {service} service.")


def services(delivery: Delivery, asked: Asked, image: ImageKey, roles: frozenset[str]) -> dict:
    """Return the probe service of an image with roles, as its info.json declares it: the
    probe, an access service for each role, and the token and logout services."""
    with delivery.reader.connect() as conn:
        found = roles_of(conn, image.customer, roles)
    return described(asked.base, image, roles, found)


def roles_of(conn: Connection, customer: int, roles: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return the rows of these roles of ``customer`` (those that exist), in one query."""
    query = select(_ROLES).where(_ROLES.c.customer == customer, _ROLES.c.role.in_(list(roles)))
    return {row["role"]: dict(row) for row in conn.execute(query).mappings()}


def described(
    base: str, image: ImageKey, roles: Iterable[str], found: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Return the probe service of an image with ``roles`` (``found``: their rows, from
    :func:`roles_of`), under the public base URL ``base``."""
    return {
        "id": image.url(base, "/auth/v2/probe"),
        "type": "AuthProbeService2",
        "service": access_services(base, image.customer, roles, found),
    }


def access_services(
    base: str, customer: int, roles: Iterable[str], found: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Return the access service of each of ``customer``'s ``roles`` that exists (``found``:
    their rows), each with its token and logout services."""
    auth, c = f"{base}/auth/v2", customer
    token_and_logout = [
        {"id": f"{auth}/token/{c}", "type": "AuthAccessTokenService2"},
        {"id": f"{auth}/logout/{c}", "type": "AuthLogoutService2", "label": _text("Log out")},
    ]
    accesses = []
    for role in sorted(roles):
        row = found.get(role)
        if row is None:
            continue
        label = row["label"] or row["name"] or role
        service: dict[str, Any] = {
            "id": f"{auth}/access/{c}/{role}",
            "type": "AuthAccessService2",
            "profile": "active",
            "label": _text(label),
            "service": token_and_logout,
        }
        for name in ("heading", "note", "confirmLabel"):
            if row[name]:
                service[name] = _text(row[name])
        accesses.append(service)
    return accesses


def probe(delivery: Delivery, asked: Asked, image: ImageKey) -> Reply:
    """Answer whether the caller may see all of an image (AuthProbeResult2, always HTTP 200)."""
    url = image.service(asked, "/auth/v2/probe")
    result: dict[str, Any] = {"@context": CONTEXT, "id": url, "type": "AuthProbeResult2"}
    try:
        found = media.registered(delivery, image)
        if found.media:  # (audio, video or a file: no part of it is open)
            if found.restricted:
                media.allow(delivery, image, found, asked, token=True)
        else:
            rule = delivery.registration(image).rule
            if rule.restricted:
                delivery.allow(image, rule, asked, token=True)
        result["status"] = 200
    except ApiError as exc:  # (no such image, no session, no role: said in the result)
        result["status"] = exc.code
        result["heading"] = _text(exc.description or "")
    return Reply(dumps(result), JSON, headers=[_NOT_KEPT])


def access(delivery: Delivery, asked: Asked, customer: int, role: str) -> Reply:
    """Turn a grant, a confirmed clickthrough or a sign-in into the session cookie."""
    found = _role(delivery, customer, role)
    if found is None:
        raise ApiError(404, f"Customer {customer} has no role {role}.")
    query = parse_qs(asked.environ.get("QUERY_STRING", ""))
    if "grant" in query:
        granted = delivery.sessions.take_grant(query["grant"][0], customer)
        if granted is None:
            raise ApiError(
                401, "The grant is not valid: used already, expired, or of another customer."
            )
        if role not in granted:
            raise ApiError(403, f"The grant does not name the role {role}.")
        return _signed_in(delivery, asked, customer, granted)
    if found["accessProfile"] == "login":
        sign_in = found["signInUrl"]
        if not sign_in or browser_url_fault(sign_in, delivery.config["ALLOW_HTTP_URLS"]):
            raise ApiError(404, f"The role {role} has no sign-in page (signInUrl) to go to.")
        back = f"{asked.base}/auth/v2/access/{customer}/{role}"
        separator = "&" if urlsplit(sign_in).query else "?"
        target = f"{sign_in}{separator}{urlencode({'returnUrl': back})}"
        return Reply(b"", status=303, headers=[("Location", target), _NOT_KEPT])
    if asked.environ["REQUEST_METHOD"] == "POST":
        # (the confirmation of this page only: a page of another site cannot post it for them)
        sender = asked.environ.get("HTTP_ORIGIN")
        if sender is not None and sender != _origin_of(asked.base):
            raise ApiError(403, "The confirmation must come from the access service's own page.")
        return _signed_in(delivery, asked, customer, frozenset([role]))
    page = _page(
        title=found["label"] or role,
        heading=found["heading"] or found["label"] or role,
        note=found["note"],
        confirm=found["confirmLabel"] or "Continue",
        action=f"{asked.base}/auth/v2/access/{customer}/{role}",
    )
    return Reply(page, "text/html; charset=utf-8", headers=_NOT_FRAMED)


def token(delivery: Delivery, asked: Asked, customer: int) -> Reply:
    """Post the session to the viewer that framed this page, to its origin only."""
    query = parse_qs(asked.environ.get("QUERY_STRING", ""))
    message_id = query.get("messageId", [""])[0]
    origin = query.get("origin", [""])[0]
    parts = urlsplit(origin)
    message: dict[str, Any] = {"@context": CONTEXT, "messageId": message_id}
    if not message_id:
        message |= _token_error("invalidRequest", "The token service needs a messageId.")
    elif parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        message |= _token_error("invalidOrigin", "The origin is not a web origin.")
    else:
        found = delivery.sessions.access_token(asked.environ, customer)
        if found is None:
            message |= _token_error("missingAspect", "There is no session: sign in first.")
        else:
            token, seconds = found
            message |= {"type": "AuthAccessToken2", "accessToken": token, "expiresIn": seconds}
    # (to the origin that asked only; an error, which holds no secret, to whoever framed it)
    target = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "*"
    body = _PAGES.get_template("auth_token.html").render(message=message, target=target)
    return Reply(body.encode(), "text/html; charset=utf-8", headers=[_NOT_KEPT, _FRAMABLE])


def logout(delivery: Delivery, asked: Asked, customer: int) -> Reply:
    """End the caller's session of ``customer``: its cookie and its access token stop working
    everywhere at once."""
    delivery.sessions.end(asked.environ, customer)
    page = _page(title="Signed out", heading="You are signed out.", close=False)
    cleared = delivery.sessions.cookie(customer, "", clear=True)
    return Reply(page, "text/html; charset=utf-8", headers=[cleared, *_NOT_FRAMED])


def _signed_in(delivery: Delivery, asked: Asked, customer: int, roles: frozenset[str]) -> Reply:
    # A new session (a new cookie: one set before signing in names nothing after), holding
    # the roles of the one it replaces as well.
    held = delivery.sessions.held(asked.environ, customer) or frozenset()
    delivery.sessions.end(asked.environ, customer)
    value, _expires = delivery.sessions.start(customer, held | roles)
    page = _page(title="Signed in", heading="You may close this window.", close=True)
    cookie = delivery.sessions.cookie(customer, value)
    return Reply(page, "text/html; charset=utf-8", headers=[cookie, *_NOT_FRAMED])


def _role(delivery: Delivery, customer: int, role: str) -> dict[str, Any] | None:
    with delivery.reader.connect() as conn:
        return roles_of(conn, customer, [role]).get(role)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _customer(text: str) -> int:
    found = number(text)
    if found is None:
        raise ApiError(404, "There is no such customer.")
    return found


def _token_error(profile: str, heading: str) -> dict[str, Any]:
    return {"type": "AuthAccessTokenError2", "profile": profile, "heading": _text(heading)}


def _text(text: str) -> dict[str, list[str]]:
    return {"en": [text]}


def _page(*, title: str, heading: str, note: str = "", confirm: str = "", action: str = "",
          close: bool = False) -> bytes:  # fmt: skip
    return (
        _PAGES.get_template("auth_page.html")
        .render(
            title=title, heading=heading, note=note, confirm=confirm, action=action, close=close
        )
        .encode()
    )
