"""What a request may carry: its JSON and its numbers are read strictly and within bounds.

Every value a request sends is read through these, so none can cost more than its size
says (a body nested a thousand deep, a 5,000-digit number) or reach the database in a form
it refuses (a lone surrogate is no Unicode text): each is a 400 naming what is wrong.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from app.web.errors import bad_request

# The deepest JSON this API reads: an expanded JSON-LD collection of images with lists of
# values is 6 deep, so 32 leaves room for any form a client may send.
MAX_JSON_DEPTH = 32
# ASCII digits only (int() takes any decimal digit of Unicode, Arabic-Indic ones say); 19
# digits reach past BIGINT,
# and a number of more digits is refused before int() would spend time on it.
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def integer(text: str) -> int | None:
    """Return the integer an ASCII decimal numeral of at most 19 digits names, else None."""
    return int(text) if _INTEGER.fullmatch(text) else None


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers deeper than ``limit``."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return False
    return limit <= 0 or any(_depth(item, limit - 1) for item in items)


def parse_json(raw: bytes | str, where: str) -> Any:
    """Return the JSON value of ``raw``; 400 naming ``where`` when it is not one we read.

    orjson refuses what is not UTF-8, lone surrogates and numbers that overflow a double;
    nesting is bounded here (orjson's own bound, 1,024, is far beyond any body of this API).
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request([(where, f"is not valid JSON: {exc}")]) from None
    if _depth(value, MAX_JSON_DEPTH):
        raise bad_request([(where, f"is nested more than {MAX_JSON_DEPTH} deep")])
    return value


def is_text(value: str) -> bool:
    """Whether a string is Unicode text (no lone surrogate), so it can be stored as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
