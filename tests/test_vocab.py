"""The vocabulary: the spec's Image, and each property reaching context, doc, schema and SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.storage.models import CHILDREN, TABLES, column_name
from app.web.schemas import schema_class
from vocab import api_documentation, context, dlcs
from vocab.context import HYDRA_TERMS, prop_iri

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "000_8e9c316801c469c2.txt"
BASE = "https://dlcs.example"

# The Image properties of the user's specification: name -> (range, readonly, writeonly, link).
SPEC_IMAGE = {
    "created": ("xsd:dateTime", True, False, False),
    "origin": ("xsd:string", False, False, False),
    "initialOrigin": ("xsd:string", False, True, False),
    "maxUnauthorised": ("xsd:integer", False, False, False),
    "width": ("xsd:integer", True, False, False),
    "height": ("xsd:integer", True, False, False),
    "finished": ("xsd:dateTime", True, False, False),
    "ingesting": ("xsd:boolean", True, False, False),
    "error": ("xsd:string", False, False, False),
    "tags": ("xsd:string", False, False, False),
    "string1": ("xsd:string", False, False, False),
    "string2": ("xsd:string", False, False, False),
    "string3": ("xsd:string", False, False, False),
    "number1": ("xsd:nonNegativeInteger", False, False, False),
    "number2": ("xsd:nonNegativeInteger", False, False, False),
    "number3": ("xsd:nonNegativeInteger", False, False, False),
    "duration": ("xsd:nonNegativeInteger", False, False, False),
    "family": ("xsd:string", False, False, False),
    "batch": ("xsd:nonNegativeInteger", True, False, False),
    "roles": ("Role", False, False, True),
    "imageOptimisationPolicy": ("ImageOptimisationPolicy", True, False, True),
    "thumbnailPolicy": ("ThumbnailPolicy", True, False, True),
}

IMAGE = dlcs.get("Image")


# What the DLCS added to the Image after the specification, under the same names.
LATER = ["imageService", "thumbnailImageService"]
# What this server adds: what ingest noticed that did not stop it.
OURS = ["warning"]


def test_image_has_exactly_the_spec_properties_the_dlcs_later_links_and_ours():
    assert [p.name for p in IMAGE.properties] == [*SPEC_IMAGE, *LATER, *OURS]


@pytest.mark.parametrize("name", list(SPEC_IMAGE))
def test_image_property_matches_the_spec(name):
    prop = IMAGE.prop(name)
    range_, readonly, writeonly, link = SPEC_IMAGE[name]
    assert (prop.range, prop.readonly, prop.writeonly, prop.link) == (
        range_,
        readonly,
        writeonly,
        link,
    )


@pytest.mark.skipif(not SPEC.exists(), reason="the shared spec is not beside the project")
def test_spec_file_tables_agree_with_the_declaration():
    text = SPEC.read_text(encoding="utf-8")
    found = re.findall(
        r"### (\w+)[^\n]*\n\n(.+?)\n\n\n\| domain.*?\n\|[-| ]+\n"
        r"\| vocab:Image \| (\S+) +\| (\w+) +\| (\w+)",
        text,
        re.S,
    )
    assert len(found) == 22
    for name, description, range_, readonly, writeonly in found:
        prop = IMAGE.prop(name)
        assert prop.range.split(":")[-1] == range_.split(":")[-1]
        assert prop.readonly == (readonly == "True")
        assert prop.writeonly == (writeonly == "True")
        words = description.replace("conjunctino", "conjunction").replace("`", "")
        assert prop.description.split()[:4] == words.split()[:4]


def test_image_operations_are_the_spec_operations():
    ops = {op.method: op for op in IMAGE.operations}
    assert ops["GET"].title == "Retrieve a Image"
    assert ops["PUT"].title == "create or replace a Image"
    assert ops["PATCH"].title == "Update the supplied fields of the Image"
    assert ops["DELETE"].title == "Delete the Image"
    assert ops["DELETE"].returns == "owl:Nothing"
    assert {s.code for s in ops["PUT"].statuses} >= {200, 201, 400, 404}
    assert ops["PATCH"].statuses[0].code == 200  # DECISIONS: 200, not the seed's 205
    assert ops["DELETE"].statuses[0].code == 205


ALL_PROPS = [(cls.name, prop.name) for cls in dlcs.CLASSES for prop in cls.properties]


@pytest.mark.parametrize(("cls_name", "prop_name"), ALL_PROPS)
def test_property_reaches_context_documentation_schema_and_sql(cls_name, prop_name):
    cls = dlcs.get(cls_name)
    prop = cls.prop(prop_name)
    # 1. the context defines the term
    terms = context(cls, BASE)["@context"]
    assert prop_name in terms
    assert terms[prop_name]["@id"] == prop_iri(cls, prop)
    if prop.link:
        assert terms[prop_name]["@type"] == "@id"
    # 2. the documentation describes it on its class
    doc = api_documentation(BASE)
    node = next(c for c in doc["supportedClass"] if c["title"] == cls.title)
    supported = next(p for p in node["supportedProperty"] if p["title"] == prop_name)
    assert supported["readable"] is (not prop.writeonly)
    assert supported["writable"] is supported["writeable"] is (not prop.readonly)
    assert supported["property"]["@type"] == ("Link" if prop.link else "Property")
    if prop.limits_text and not prop.readonly:  # (what a client may send)
        assert prop.limits_text in supported["description"]
    # 3. the schema has the field, dump-only / load-only as declared
    if cls.name not in ("EntryPoint", "Error", "Violation"):
        field = schema_class(cls.name)._declared_fields[prop_name]
        assert field.dump_only is prop.readonly
        assert field.load_only is prop.writeonly
    # 4. a stored property has a column or a child table
    if cls.name in TABLES and prop.is_stored:
        if prop.multiple:
            assert prop_name in CHILDREN[cls.name]
        else:
            assert column_name(cls, prop) in TABLES[cls.name].c


def test_vocab_imports_no_web_or_database_library():
    import subprocess
    import sys

    code = (
        "import sys, vocab; "
        "print(sorted({'flask', 'sqlalchemy', 'marshmallow'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_link_range_is_a_declared_class():
    """A link names a declared class, and leads to a URL: its class's, or its own (derived)."""
    for cls in dlcs.CLASSES:
        for prop in cls.properties:
            if prop.link and not prop.is_collection:
                assert dlcs.get(prop.range).path or prop.path, f"{cls.name}.{prop.name}"


DUMPED = [c.name for c in dlcs.CLASSES if c.name not in ("Error", "Violation")]


@pytest.mark.parametrize("name", DUMPED)
def test_the_dumper_writes_what_the_schema_dumps(app, name):
    import datetime as dt

    from app.web.schemas import dumper, lenient_schema

    cls = dlcs.get(name)
    row: dict = {
        k: 7 if dlcs.PATH_VARIABLES[k] != "xsd:string" else "k y" for k in cls.path_variables
    }
    samples = {
        "xsd:string": "text ü",
        "xsd:integer": -3,
        "xsd:nonNegativeInteger": 12,
        "xsd:boolean": True,
        "xsd:dateTime": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
    }
    for prop in cls.stored + tuple(p for p in cls.properties if p.transient):
        value = samples.get(prop.range, "target")
        row[column_name(cls, prop) if prop.identifier else prop.name] = (
            [value, value] if prop.multiple else value
        )
    with app.test_request_context():
        assert dumper(name)(row) == lenient_schema(name).dump(row)
        sparse = {k: row[k] for k in cls.path_variables}
        assert dumper(name)(sparse) == lenient_schema(name).dump(sparse)
        empty = {**sparse, **{k: None for k in row if k not in sparse}}  # (NULL columns)
        assert dumper(name)(empty) == lenient_schema(name).dump(empty)
        falsy = {"xsd:string": "", "xsd:integer": 0, "xsd:nonNegativeInteger": 0}
        zeros = {**sparse}
        for prop in cls.stored:
            if not prop.identifier and prop.range != "xsd:dateTime":
                value = falsy.get(prop.range, False if prop.range == "xsd:boolean" else "")
                zeros[prop.name] = [] if prop.multiple else value
        assert dumper(name)(zeros) == lenient_schema(name).dump(zeros)


def test_date_times_are_written_in_utc_with_offset_to_the_millisecond():
    import datetime as dt

    from app.web.schemas import format_datetime

    plus_one = dt.timezone(dt.timedelta(hours=1))
    written = "2026-01-02T03:04:05.678+00:00"
    assert format_datetime(dt.datetime(2026, 1, 2, 3, 4, 5, 678901)) == written  # SQLite: naive
    assert format_datetime(dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)) == written
    assert format_datetime(dt.datetime(2026, 1, 2, 4, 4, 5, 678901, tzinfo=plus_one)) == written
    assert format_datetime(dt.datetime(2026, 1, 2)) == "2026-01-02T00:00:00.000+00:00"


def test_no_property_takes_the_name_of_a_hydra_term_of_the_contexts():
    # Every context defines the Hydra terms of collections (a collection's search template is
    # "template"): a property of the same name would give one of the two the other's IRI.
    clashes = [
        f"{cls.name}.{prop.name}"
        for cls in dlcs.CLASSES
        for prop in cls.properties
        if prop.name in HYDRA_TERMS and not prop.iri
    ]
    assert clashes == []
