"""The benchmark's reference apps, run against the test database so that they keep working."""

from __future__ import annotations

from bench import least
from bench.bare import BODY
from bench.cpu import call, environ


def test_the_least_read_and_write_use_the_row_and_answer_fixed_bytes(alice, database_url):
    path = f"/customers/{alice.customer}/spaces/1/images/pic"
    assert alice.put(path, {"string1": "before", "number1": 1, "tags": ["a"]}).status_code == 201
    reference = least.create_app(database_url)
    try:
        client = reference.test_client()
        assert client.get(path).data == BODY
        assert client.get(path + "-none").status_code == 404  # (it did read the row)
        answer = client.put(path, json={"string1": "after", "number1": 2})
        assert answer.status_code == 200
        assert answer.data == BODY
        # Written to the database, and nothing else changed: the API reads it anew.
        image = alice.get(path).get_json()
        assert (image["string1"], image["number1"], image["tags"]) == ("after", 2, ["a"])
    finally:
        for engine in reference.extensions["least.engines"]:
            engine.dispose()


def test_cpu_calls_an_app_as_its_server_would(app, alice):
    # bench/cpu.py's WSGI environment carries the path, the headers and the body.
    path = f"/customers/{alice.customer}/spaces/1/images/pic"
    headers = {"Authorization": alice.headers["Authorization"]}
    put = environ("PUT", path, headers, b'{"string1": "from cpu"}')
    assert call(app, put).startswith("201")
    assert call(app, environ("GET", path, headers)).startswith("200")
    assert call(app, environ("GET", path, {})).startswith("401")
    assert alice.get(path).get_json()["string1"] == "from cpu"


def test_the_first_tile_benchmark_reads_the_pyramid_from_the_bucket():
    # (Times are the benchmark's to report, not asserted: this checks that it keeps working.)
    from bench import first_tile

    report = first_tile.run(rounds=1, quick=True)["4000 x 3000"]
    assert report["pyramid_bytes"] > 100_000
    assert report["first_tile_ms"] > 0 and report["cached_tile_ms"] > 0
    assert report["whole_pyramid_fetch_ms"] > 0
