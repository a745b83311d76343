"""The ``dlcs`` command: customers, keys and the database, as an operator uses them."""

from __future__ import annotations

import json

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
