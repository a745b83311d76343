"""Grants of a customer's roles (AuthGrant): what its own sign-in page hands a signed-in user.

The user's browser takes the grant to a role's access service (``?grant=``), which turns it
into the session cookie (:mod:`app.delivery.auth`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, current_app

from app import resources
from app.resources import Behaviour
from app.storage import access
from app.storage.db import connection
from app.web import links, responses
from app.web.errors import bad_request
from vocab.model import Class


def grant(cls: Class, keys: Mapping[str, Any], _behaviour: Behaviour) -> Response:
    """Sign a grant of the roles the body names, all of them roles of the customer."""
    conn = connection()
    body = resources.read_body(cls, links.resource_iri(cls, keys))
    faults = resources.strip_envelope(cls, body, None)
    faults += [
        (name, "is read-only: the server makes it") for name in resources.take_readonly(cls, body)
    ]
    loaded, load_faults = resources.load(cls, body, partial=False)
    faults += load_faults + resources.resolve_links(conn, cls, loaded, keys)
    if not faults and not loaded.get("roles"):
        faults.append(("roles", "name at least one role to grant"))
    if faults:
        raise bad_request(faults)
    seconds = int(current_app.config["AUTH_GRANT_SECONDS"])
    token, expires = access.make_grant(conn, keys["customer"], loaded["roles"], seconds)
    conn.commit()
    values = {**keys, "roles": loaded["roles"], "grant": token, "expires": expires}
    return responses.response(resources.document(cls, values))


AUTH_GRANTS = Behaviour(handlers={"POST": grant})
