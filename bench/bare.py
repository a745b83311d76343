"""The bare app the benchmark compares against: Flask returning fixed bytes, nothing else.

``BARE_BODY`` names a file whose bytes it sends instead (and ``BARE_TYPE`` their media type):
bench/delivery.py has it send what this server sends on each path, so that both send as much.
"""

import os
from pathlib import Path

from flask import Flask, Response

BODY = (
    b'{"@context":"http://127.0.0.1/contexts/Image.jsonld","@id":"http://127.0.0.1/customers/1/'
    b'spaces/1/images/i0000042","@type":"Image","created":"2026-11-27T10:00:00.000+00:00",'
    b'"origin":"","maxUnauthorised":-1,"ingesting":false,"error":"","tags":["a","b"],'
    b'"string1":"s42","string2":"","string3":"","number1":42,"number2":0,"number3":0,'
    b'"duration":0,"family":"I","roles":[]}'
)

MEDIA_TYPE = os.environ.get("BARE_TYPE", "application/ld+json")
if os.environ.get("BARE_BODY"):
    BODY = Path(os.environ["BARE_BODY"]).read_bytes()

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "PUT"])
@app.route("/<path:path>", methods=["GET", "PUT"])
def fixed(path: str) -> Response:
    """Return the same bytes for every request."""
    return Response(BODY, mimetype=MEDIA_TYPE)
