"""What is particular to Images: a new image takes the defaults of its space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from app.resources import defaults_from
from app.store import store


@defaults_from("Image")
def space_defaults(conn: Connection, keys: Mapping[str, Any]) -> dict[str, Any]:
    """Return the maxUnauthorised, tags and roles a new image of this space starts with."""
    space = store("Space").get(conn, {"customer": keys["customer"], "space": keys["space"]})
    if space is None:
        return {}
    return {
        "maxUnauthorised": space["maxUnauthorised"],
        "tags": list(space["defaultTags"]),
        "roles": list(space["defaultRoles"]),
    }
