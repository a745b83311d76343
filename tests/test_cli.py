"""The ``dlcs`` command: customers, keys and the database, as an operator uses them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url

from app.factory import create_app
from app.storage.db import dispose
from tests.conftest import basic, make_customer


def test_customer_create_prints_id_key_and_secret(runner, client):
    made = make_customer(runner, "acme")
    assert {"id", "key", "secret"} <= set(made)
    r = client.get(f"/customers/{made['id']}", headers=basic(made["key"], made["secret"]))
    assert r.status_code == 200
    assert r.get_json()["name"] == "acme"


def test_customer_create_refuses_a_duplicate_name(runner):
    make_customer(runner, "acme")
    result = runner.invoke(args=["customer", "create", "acme"])
    assert result.exit_code != 0
    assert "exists already" in result.output


def test_admin_flag_makes_an_admin_key(runner, client):
    admin = make_customer(runner, "root", admin=True)
    other = make_customer(runner, "other")
    r = client.get(f"/customers/{other['id']}", headers=basic(admin["key"], admin["secret"]))
    assert r.status_code == 200


def test_key_create_list_delete(runner, client):
    made = make_customer(runner, "acme")
    created = json.loads(runner.invoke(args=["key", "create", str(made["id"])]).output)
    listed = runner.invoke(args=["key", "list", str(made["id"])]).output
    assert created["key"] in listed and created["secret"] not in listed
    headers = basic(created["key"], created["secret"])
    assert client.get(f"/customers/{made['id']}", headers=headers).status_code == 200
    result = runner.invoke(args=["key", "delete", str(made["id"]), created["key"]])
    assert result.exit_code == 0
    assert client.get(f"/customers/{made['id']}", headers=headers).status_code == 401


def test_key_create_for_a_missing_customer_fails(runner):
    result = runner.invoke(args=["key", "create", "999"])
    assert result.exit_code != 0
    assert "no customer 999" in result.output


def test_customer_list(runner):
    make_customer(runner, "a")
    make_customer(runner, "b")
    lines = runner.invoke(args=["customer", "list"]).output.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["a", "b"]


def test_db_upgrade_is_idempotent(runner):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "head" in result.output


def test_queue_submit_csv_waits_until_ingested(runner, origin, tmp_path, client):
    made = make_customer(runner, "acme")
    c = made["id"]
    headers = basic(made["key"], made["secret"])
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    rows = ["id,origin,string1,number1,tags"]
    rows += [f"c{i},{origin.url('small.jpg')},row {i},{i},a;b" for i in range(5)]
    (tmp_path / "images.csv").write_text("\n".join(rows) + "\n")
    args = ["queue", "submit", str(tmp_path / "images.csv"), "--customer", str(c), "--space", "1"]
    result = runner.invoke(args=[*args, "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "5 images: 5 ingested, 0 with errors" in result.output
    assert result.output.count("images queued") == 3
    doc = client.get(f"/customers/{c}/spaces/1/images/c3", headers=headers).get_json()
    assert (doc["width"], doc["number1"], doc["tags"], doc["string1"]) == (
        50,
        3,
        ["a", "b"],
        "row 3",
    )


def test_queue_submit_json_no_wait(runner, origin, tmp_path, client, app):
    made = make_customer(runner, "acme")
    c = made["id"]
    headers = basic(made["key"], made["secret"])
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    members = [{"id": "j1", "space": 1, "origin": origin.url("small.jpg")}]
    (tmp_path / "images.json").write_text(json.dumps(members))
    args = ["queue", "submit", str(tmp_path / "images.json"), "--customer", str(c), "--no-wait"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    doc = client.get(f"/customers/{c}/spaces/1/images/j1", headers=headers).get_json()
    assert doc["ingesting"] is True
    assert app.extensions["dlcs.queue"].drain() == 1


def test_queue_submit_reports_bad_rows_and_queues_nothing(runner, origin, tmp_path, client):
    made = make_customer(runner, "acme")
    c = made["id"]
    client.put(
        f"/customers/{c}/spaces/1", json={"name": "s"}, headers=basic(made["key"], made["secret"])
    )
    rows = [
        "id,origin,number1",
        f"ok,{origin.url('small.jpg')},1",
        f"bad,{origin.url('small.jpg')},-4",
    ]
    (tmp_path / "images.csv").write_text("\n".join(rows) + "\n")
    args = ["queue", "submit", str(tmp_path / "images.csv"), "--customer", str(c), "--space", "1"]
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert "image 2.number1: must be a non-negative integer" in result.output


NEED_THE_SCHEMA = [
    ["customer", "create", "acme"],
    ["customer", "list"],
    ["key", "create", "1"],
    ["key", "list", "1"],
    ["key", "delete", "1", "k"],
    ["queue", "submit", "images.csv", "--customer", "1"],
    ["worker"],
]


@pytest.mark.parametrize("command", NEED_THE_SCHEMA, ids=lambda c: " ".join(c[:2]))
def test_commands_on_a_database_with_no_tables_say_so_in_one_line(
    fresh_database, tmp_path, command
):
    (tmp_path / "images.csv").write_text("id,origin\nx,http://example.org/x.jpg\n")
    command = [str(tmp_path / a) if a == "images.csv" else a for a in command]
    url = fresh_database
    if url.startswith("postgresql"):  # (the server trusts any password: it must not be shown)
        url = make_url(url).set(password="s3cret").render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False, "EMBEDDED_WORKER": False})
    try:
        result = app.test_cli_runner().invoke(args=command)
    finally:
        dispose(app)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "has no tables yet" in lines[0] and "run `dlcs db upgrade`" in lines[0]
    assert make_url(url).database in lines[0] and "s3cret" not in lines[0]


def test_an_sqlite_database_is_migrated_by_whatever_opens_it(fresh_database):
    if not fresh_database.startswith("sqlite"):
        pytest.skip("SQLite alone is migrated without being asked")
    app = create_app({"DATABASE_URL": fresh_database, "EMBEDDED_WORKER": False})
    try:
        result = app.test_cli_runner().invoke(args=["customer", "create", "acme"])
    finally:
        dispose(app)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["name"] == "acme"


def _submitter(runner, client, tmp_path, rows: list[str]):
    made = make_customer(runner, "acme")
    headers = basic(made["key"], made["secret"])
    client.put(f"/customers/{made['id']}/spaces/1", json={"name": "s"}, headers=headers)
    (tmp_path / "images.csv").write_text("\n".join(rows) + ("\n" if rows else ""))
    args = ["queue", "submit", str(tmp_path / "images.csv"), "--customer", str(made["id"])]
    return runner.invoke(args=[*args, "--space", "1"]), made, headers


def test_queue_submit_fails_when_an_image_ends_with_an_error(runner, origin, tmp_path, client):
    rows = ["id,origin", f"good,{origin.url('small.jpg')}", f"gone,{origin.url('status/404')}"]
    result, _, _ = _submitter(runner, client, tmp_path, rows)
    assert result.exit_code == 1, result.output
    assert "1 of 2 images ended with an error" in result.output
    assert "1/gone: the origin answered 404" in result.output


@pytest.mark.parametrize("rows", [[], ["id,origin"]], ids=["empty file", "header alone"])
def test_queue_submit_fails_when_nothing_is_queued(runner, client, tmp_path, rows):
    result, _, _ = _submitter(runner, client, tmp_path, rows)
    assert result.exit_code == 1, result.output
    assert "nothing was queued" in result.output and "lists no images" in result.output


def test_queue_submit_names_a_customer_that_does_not_exist(runner, origin, tmp_path):
    (tmp_path / "images.csv").write_text(f"id,origin\na,{origin.url('small.jpg')}\n")
    args = ["queue", "submit", str(tmp_path / "images.csv"), "--customer", "987654", "--space", "1"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "nothing was queued: there is no customer 987654" in result.output
    assert "space" not in result.output


def test_queue_submit_without_a_space_says_to_pass_one(runner, origin, tmp_path, client):
    made = make_customer(runner, "acme")
    (tmp_path / "images.csv").write_text(f"id,origin\na,{origin.url('small.jpg')}\n")
    args = ["queue", "submit", str(tmp_path / "images.csv"), "--customer", str(made["id"])]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "pass --space" in result.output
    # nothing at all was queued: not "from here on"
    assert "nothing was queued:" in result.output and "from here on" not in result.output


def test_queue_submit_warns_of_commas_in_list_cells(runner, origin, tmp_path, client):
    rows = ["id,origin,tags", f'c,{origin.url("small.jpg")},"red,blue"']
    result, made, headers = _submitter(runner, client, tmp_path, rows)
    assert result.exit_code == 0, result.output
    assert "separated by ';'" in result.output
    doc = client.get(f"/customers/{made['id']}/spaces/1/images/c", headers=headers).get_json()
    assert doc["tags"] == ["red,blue"]


def test_queue_submit_help_names_the_list_separator(runner):
    result = runner.invoke(args=["queue", "submit", "--help"])
    assert "red;blue" in result.output and "separate their values with ';'" in result.output


def test_help_needs_no_database(fresh_database):
    app = create_app(
        {"DATABASE_URL": fresh_database, "AUTO_MIGRATE": False, "EMBEDDED_WORKER": False}
    )
    try:
        result = app.test_cli_runner().invoke(args=["customer", "create", "--help"])
    finally:
        dispose(app)
    assert result.exit_code == 0 and "Create a customer" in result.output
