"""The ``dlcs`` command: run the server, migrate the database, manage customers and keys."""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.storage import access, db
from app.storage.db import connection
from app.storage.store import now, store
from app.submit import submit
from app.web import auth


def needs_schema(command: Callable[..., None]) -> Callable[..., None]:
    """Make a command stop with one line when the database is not migrated for this app."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> None:
        fault = db.schema_fault(current_app.extensions["dlcs.engine"])
        if fault is not None:
            raise click.ClickException(fault)
        command(*args, **kwargs)

    return checked


def _echo(value: Any) -> None:
    click.echo(json.dumps(value, default=str))


def _new_key(customer: int) -> dict[str, Any]:
    key, secret = auth.new_credentials()
    store("Key").insert(
        connection(),
        {
            "customer": customer,
            "key": key,
            "created": now(),
            "secret_hash": access.digest(secret),
        },
    )
    return {"key": key, "secret": secret}


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate to this revision.")
def db_upgrade(revision: str) -> None:
    """Apply the migrations (the embedded SQLite default does this at start-up)."""
    db.upgrade(current_app.extensions["dlcs.engine"], revision)
    click.echo(f"database at {revision}")


@click.group("customer", cls=AppGroup)
def customer_group() -> None:
    """Manage customers."""


@customer_group.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Its keys may act on every customer.")
@click.option("--display-name", default="", help="The name to show.")
@needs_schema
def customer_create(name: str, admin: bool, display_name: str) -> None:
    """Create a customer and its first API key; print them as JSON."""
    conn = connection()
    values = {
        "name": name,
        "displayName": display_name or name,
        "administrator": admin,
        "created": now(),
    }
    try:
        keys = store("Customer").insert(conn, values)
    except IntegrityError as exc:
        raise click.ClickException(f"a customer called {name!r} exists already") from exc
    credentials = _new_key(keys["customer"])
    conn.commit()
    _echo({"id": keys["customer"], "name": name, "administrator": admin, **credentials})


@customer_group.command("list")
@needs_schema
def customer_list() -> None:
    """Print every customer as a JSON line."""
    table = store("Customer").table
    for row in connection().execute(select(table).order_by(table.c.customer)).mappings():
        _echo({"id": row["customer"], "name": row["name"], "administrator": row["administrator"]})


@click.group("key", cls=AppGroup)
def key_group() -> None:
    """Manage API keys."""


@key_group.command("create")
@click.argument("customer", type=int)
@needs_schema
def key_create(customer: int) -> None:
    """Create an API key of CUSTOMER; print it with its secret (shown only now)."""
    if not store("Customer").exists(connection(), {"customer": customer}):
        raise click.ClickException(f"there is no customer {customer}")
    credentials = _new_key(customer)
    connection().commit()
    _echo({"customer": customer, **credentials})


@key_group.command("list")
@click.argument("customer", type=int)
@needs_schema
def key_list(customer: int) -> None:
    """Print the keys of CUSTOMER (never their secrets)."""
    table = store("Key").table
    query = select(table.c.key, table.c.created).where(table.c.customer == customer)
    for row in connection().execute(query.order_by(table.c.created)):
        _echo({"customer": customer, "key": row.key, "created": row.created})


@key_group.command("delete")
@click.argument("customer", type=int)
@click.argument("key")
@needs_schema
def key_delete(customer: int, key: str) -> None:
    """Delete KEY of CUSTOMER."""
    if not store("Key").delete(connection(), {"customer": customer, "key": key}):
        raise click.ClickException(f"customer {customer} has no key {key}")
    connection().commit()
    current_app.extensions["dlcs.keys"].forget(key)
    click.echo(f"deleted key {key}")


@click.group("queue", cls=AppGroup)
def queue_group() -> None:
    """Register images in batches."""


@queue_group.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--customer", type=int, required=True, help="The customer the images belong to.")
@click.option("--space", type=int, help="The space of images that name none.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--wait/--no-wait", default=True, help="Show progress until the batches finish.")
@needs_schema
def queue_submit(file: Path, customer: int, space: int | None, batch_size: int, wait: bool) -> None:
    """Register the images listed in FILE (CSV or JSON) through the customer's queue.

    \b
    CSV: a header row of Image properties, then one image a row, e.g.
      id,space,origin,string1,tags
      p1,1,https://example.org/p1.jpg,book-7,red;blue
    Lists (tags, roles) separate their values with ';'. JSON: a list of images,
    or a Collection with them as its member.

    It exits with status 1 when nothing was queued, or when an image ended
    with an error (each is printed); with --no-wait, once they are queued.
    """
    submit(file, customer, space, batch_size, wait)


def init_app(app: Flask) -> None:
    """Add the commands to the app's CLI."""
    for group in (db_group, customer_group, key_group, queue_group, worker_command):
        app.cli.add_command(group)


@click.command("worker")
@click.option(
    "--concurrency",
    "-c",
    type=int,
    default=os.cpu_count() or 1,
    show_default=True,
    help="How many images to ingest at once.",
)
@with_appcontext
@needs_schema
def worker_command(concurrency: int) -> None:
    """Ingest queued images: from the broker (DLCS_BROKER_URL), or else the embedded queue."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    queue = app.extensions["dlcs.queue"]
    if app.config.get("BROKER_URL"):
        # Publishes what a web process committed but died before publishing.
        threading.Thread(target=queue.sweep_forever, name="dlcs-sweeper", daemon=True).start()
        app.extensions["celery"].worker_main(
            [
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "--pool=threads",
                f"--queues={app.config['QUEUE_NAME']}",
                # A name of its own, so that many workers can share a host.
                f"--hostname=dlcs-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        )
        return
    click.echo(f"running the embedded queue with {concurrency} threads; Ctrl+C stops")
    threads = [threading.Thread(target=queue.run, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        queue.stop()
