"""``dlcs queue submit``: register a CSV or JSON list of images in batches, and watch them."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import select

from app.api.ingest import BATCH, BATCHES, create_batch
from app.resources import read
from app.storage.db import connection
from app.storage.models import TABLES
from app.storage.store import store
from app.web.errors import ApiError
from vocab import dlcs

IMAGE = dlcs.get("Image")
LIST_SEPARATOR = ";"


def _typed(name: str, text: str) -> Any:
    """Return a CSV cell as the JSON value its Image property takes."""
    if not IMAGE.has(name):
        return text
    prop = IMAGE.prop(name)
    if prop.multiple:
        return [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]
    if prop.range in ("xsd:integer", "xsd:nonNegativeInteger"):
        try:
            return int(text)
        except ValueError:
            return text  # validation names it
    if prop.range == "xsd:boolean":
        return text.strip().lower() == "true"
    return text


def read_members(path: Path, space: int | None) -> list[dict[str, Any]]:
    """Read images from a JSON list (or Collection) or a CSV file with a header row."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        data = json.loads(text)
        members = data.get("member", []) if isinstance(data, dict) else data
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        _warn_of_commas(rows)
        members = [
            {k: _typed(k, v) for k, v in row.items() if k and v not in (None, "")} for row in rows
        ]
    if not isinstance(members, list):
        raise click.ClickException("the file must hold a list of images")
    for member in members:
        if isinstance(member, dict) and space is not None:
            member.setdefault("space", space)
        if isinstance(member, dict) and isinstance(member.get("space"), str):
            member["space"] = int(member["space"]) if member["space"].isdigit() else member["space"]
    return members


def _warn_of_commas(rows: list[dict[str, Any]]) -> None:
    # "red,blue" in a list column is one value (the separator is ";"), which a collection's
    # filter, where commas separate values, could never match: say so before it is stored.
    for name in {k for row in rows for k in row if k}:
        if IMAGE.has(name) and IMAGE.prop(name).multiple:
            cells = [row[name] for row in rows if row.get(name)]
            if any("," in cell and LIST_SEPARATOR not in cell for cell in cells):
                click.echo(
                    f"warning: a {name} cell holds a comma; values of {name} are separated by "
                    f"'{LIST_SEPARATOR}' (\"red{LIST_SEPARATOR}blue\"), so it is one value",
                    err=True,
                )


def _line(path: str, start: int) -> str:
    """Name a fault by the image's position in the file (1-based), not in its batch."""
    if path.startswith("member[") and "]" in path:
        index, rest = path[len("member[") :].split("]", 1)
        return f"image {start + int(index) + 1}{rest}"
    return path


def _run_embedded_queue() -> None:
    queue = current_app.extensions["dlcs.queue"]
    if hasattr(queue, "run_one"):
        queue.run_one()  # without a broker, the CLI ingests while it waits
    else:
        time.sleep(0.5)


def submit(file: Path, customer: int, space: int | None, batch_size: int, wait: bool) -> None:
    """Register the images listed in ``file`` in batches; watch them unless not ``wait``."""
    members = read_members(file, space)
    if not members:
        raise click.ClickException(f"nothing was queued: {file} lists no images")
    if not store("Customer").exists(connection(), {"customer": customer}):
        raise click.ClickException(f"nothing was queued: there is no customer {customer}")
    base = current_app.config.get("PUBLIC_BASE_URL") or "http://localhost:5000"
    batches: list[dict[str, int]] = []
    with current_app.test_request_context(base_url=base):
        for start in range(0, len(members), batch_size):
            chunk = {"member": members[start : start + batch_size]}
            try:
                number, follow_up = create_batch(connection(), customer, chunk)
            except ApiError as exc:
                lines = "\n".join(f"  {_line(p, start)}: {m}" for p, m in exc.violations)
                if space is None and any(p.endswith(".space") for p, _ in exc.violations):
                    lines += "\n  (give every image a space in the file, or pass --space)"
                queued = "nothing was queued" if not batches else "nothing was queued from here on"
                raise click.ClickException(f"{queued}:\n{lines}") from exc
            follow_up()
            batches.append({"customer": customer, "batch": number})
            click.echo(f"batch {number}: {len(chunk['member'])} images queued")
        if not wait:
            return
        with click.progressbar(length=len(members), label="ingesting") as bar:
            done = 0
            while True:
                counts = [read(connection(), BATCH, keys, BATCHES) for keys in batches]
                connection().rollback()
                now_done = sum(c["completed"] + c["errors"] + c["superseded"] for c in counts if c)
                bar.update(now_done - done)
                done = now_done
                if all(c and c.get("finished") for c in counts):
                    break
                _run_embedded_queue()
        errors = sum(c["errors"] for c in counts if c)
        click.echo(f"{len(members)} images: {done - errors} ingested, {errors} with errors")
        if errors:
            for image, error in _failed(customer, [b["batch"] for b in batches]):
                click.echo(f"  {image}: {error}", err=True)
            raise click.ClickException(f"{errors} of {len(members)} images ended with an error")


def _failed(customer: int, batches: list[int]) -> list[tuple[str, str]]:
    """Return the image (space/id) and error of each failed image of the batches."""
    images = TABLES["Image"]
    query = (
        select(images.c.space, images.c.image, images.c.error)
        .where(images.c.customer == customer, images.c.batch.in_(batches))
        .where(images.c.error != "", images.c.ingesting.is_(False))
        .order_by(images.c.space, images.c.image)
    )
    return [(f"{r.space}/{r.image}", r.error) for r in connection().execute(query)]
