"""Named queries (NamedQuery): a template is checked when it is stored, so that one that
cannot make a query is refused then, naming each fault, not when its results are asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.resources import Behaviour
from app.storage.named_queries import TemplateError, parse


def template_faults(loaded: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return what is wrong with the template a body gives, if it gives one."""
    if "queryTemplate" not in loaded:
        return []
    try:
        parse(loaded["queryTemplate"])
    except TemplateError as exc:
        return [(f"queryTemplate: {where}" if where else "queryTemplate", what)
                for where, what in exc.faults]  # fmt: skip
    return []


NAMED_QUERIES = Behaviour(check=template_faults)
