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
from flask.cli import with_appcontext

from app.api.ingest import BATCH, create_batch
from app.db import connection
from app.errors import ApiError
from app.resources import read
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
        rows = csv.DictReader(io.StringIO(text))
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


@click.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--customer", type=int, required=True, help="The customer the images belong to.")
@click.option("--space", type=int, help="The space of images that name none.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--wait/--no-wait", default=True, help="Show progress until the batches finish.")
@with_appcontext
def submit_command(
    file: Path, customer: int, space: int | None, batch_size: int, wait: bool
) -> None:
    """Register the images listed in FILE (CSV or JSON) through the customer's queue."""
    members = read_members(file, space)
    base = current_app.config.get("PUBLIC_BASE_URL") or "http://localhost:5000"
    batches = []
    with current_app.test_request_context(base_url=base):
        for start in range(0, len(members), batch_size):
            chunk = {"member": members[start : start + batch_size]}
            try:
                number, follow_up = create_batch(connection(), customer, chunk)
            except ApiError as exc:
                lines = "\n".join(f"  {_line(p, start)}: {m}" for p, m in exc.violations)
                raise click.ClickException(f"nothing was queued from here on:\n{lines}") from exc
            follow_up()
            batches.append({"customer": customer, "batch": number})
            click.echo(f"batch {number}: {len(chunk['member'])} images queued")
        if not wait:
            return
        with click.progressbar(length=len(members), label="ingesting") as bar:
            done = 0
            while True:
                counts = [read(connection(), BATCH, keys) for keys in batches]
                connection().rollback()
                now_done = sum(c["completed"] + c["errors"] + c["superseded"] for c in counts if c)
                bar.update(now_done - done)
                done = now_done
                if all(c and c.get("finished") for c in counts):
                    break
                _run_embedded_queue()
        errors = sum(c["errors"] for c in counts if c)
        click.echo(f"{len(members)} images: {done - errors} ingested, {errors} with errors")
