"""The SQL tables, generated from the vocabulary.

Each class with a path gets a table keyed by the variables of its path (an Image by
``customer``, ``space`` and ``image``); each stored single-valued property becomes a column
named as the property; each multi-valued property becomes a child table
``{table}_{property}`` of ``(key..., position, value)`` rows, so that filters such as
"images carrying all these tags" are plain indexed SQL on any database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from vocab import dlcs
from vocab.model import Class, Prop

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The largest number a key or integer column holds (a BIGINT).
MAX_INTEGER = 2**63 - 1

TABLE_NAMES: dict[str, str] = {
    "Customer": "customers",
    "Space": "spaces",
    "Image": "images",
    "Role": "roles",
    "Key": "api_keys",
    "Batch": "batches",
    "ImageOptimisationPolicy": "image_optimisation_policies",
    "ThumbnailPolicy": "thumbnail_policies",
    "NamedQuery": "named_queries",
    "GlobalNamedQuery": "global_named_queries",
}

# Columns that are not properties: how a key's secret is checked without storing it, and
# what ingest records for itself (which registration of an image a result belongs to).
EXTRA_COLUMNS: dict[str, tuple[Column, ...]] = {
    "Key": (Column("secret_hash", String(64), nullable=False),),
    "Image": (
        Column("ingest_generation", BigInteger, nullable=False, server_default="0"),
        Column("media_type", Text, nullable=True),
    ),
    # How many images the space holds, kept in the transactions that add and remove them,
    # so that a collection's totalItems never counts a million rows.
    "Space": (Column("image_count", BigInteger, nullable=False, server_default="0"),),
}

# Rows whose number is kept in a column of their parent row: (parent class, column).
COUNTED: dict[str, tuple[str, str]] = {"Image": ("Space", "image_count")}

# Values a new row starts with that come from its parent row, which a PUT replacing the row
# also falls back to for the ones it leaves out: (parent class, {column: parent's column}).
# A new image takes its space's maxUnauthorised, default tags and default roles.
INHERITED: dict[str, tuple[str, dict[str, str]]] = {
    "Image": (
        "Space",
        {"maxUnauthorised": "maxUnauthorised", "tags": "defaultTags", "roles": "defaultRoles"},
    )
}

# Values that identify a resource besides its key.
UNIQUE: dict[str, tuple[tuple[str, ...], ...]] = {"Customer": (("name",),)}

# Indexes the collections' default orders and filters use.
EXTRA_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "Image": (
        ("customer", "space", "created", "image"),
        ("customer", "created", "space", "image"),
        ("customer", "batch"),
        ("customer", "ingesting"),
        # (the field a named query most often chooses by: a book's id, say)
        ("customer", "string1"),
    ),
    "Batch": (("customer", "submitted"),),
    "Key": (("customer", "created"),),
}

_SQL_TYPES: dict[str, type[TypeEngine]] = {
    "xsd:string": Text,
    "xsd:integer": BigInteger,
    "xsd:nonNegativeInteger": BigInteger,
    "xsd:boolean": Boolean,
}


def sql_type(range_: str) -> TypeEngine:
    """Return the SQL type of values of an XSD range (links are stored as their target's key)."""
    if range_ == "xsd:dateTime":
        return DateTime(timezone=True)
    if range_ in _SQL_TYPES:
        return _SQL_TYPES[range_]()
    return String(255)


def key_columns(cls: Class) -> tuple[str, ...]:
    """Return the key columns of a class's table: the variables of its path."""
    return cls.path_variables


def column_name(cls: Class, prop: Prop) -> str:
    """Return the column holding a property (the identifier lives in the last key column)."""
    return cls.path_variables[-1] if prop.identifier else prop.name


def _key_column(name: str, *, autoincrement: bool = False) -> Column:
    if dlcs.PATH_VARIABLES[name] == "xsd:string":
        return Column(name, String(255), primary_key=True, autoincrement=False)
    # SQLite only numbers rows itself for an INTEGER PRIMARY KEY.
    kind = BigInteger().with_variant(Integer(), "sqlite")
    return Column(name, kind, primary_key=True, autoincrement=autoincrement)


def _build(cls: Class) -> tuple[Table, dict[str, Table]]:
    name = TABLE_NAMES[cls.name]
    keys = key_columns(cls)
    serial = len(keys) == 1 and dlcs.PATH_VARIABLES[keys[0]] != "xsd:string"
    columns: list = [_key_column(k, autoincrement=serial) for k in keys]
    if len(keys) > 1:
        parent = keys[:-1]
        parent_table = TABLE_NAMES[_owner_of(parent)]
        columns.append(
            ForeignKeyConstraint(
                list(parent), [f"{parent_table}.{k}" for k in parent], ondelete="CASCADE"
            )
        )
    for prop in cls.stored:
        if prop.multiple or prop.identifier:
            continue
        nullable = prop.default is None and not (prop.required or prop.automatic)
        columns.append(Column(prop.name, sql_type(prop.range), nullable=nullable))
    columns.extend(column._copy() for column in EXTRA_COLUMNS.get(cls.name, ()))
    columns.extend(UniqueConstraint(*u) for u in UNIQUE.get(cls.name, ()))
    table = Table(name, metadata, *columns)
    for index_columns in EXTRA_INDEXES.get(cls.name, ()):
        Index(None, *(table.c[c] for c in index_columns))
    children = {}
    for prop in cls.stored:
        if prop.multiple:
            children[prop.name] = _child(name, keys, prop)
    return table, children


def _child(parent: str, keys: tuple[str, ...], prop: Prop) -> Table:
    child = Table(
        f"{parent}_{prop.name}",
        metadata,
        *(_key_column(k) for k in keys),
        Column("position", Integer, primary_key=True, autoincrement=False),
        Column("value", sql_type(prop.range), nullable=False),
        ForeignKeyConstraint(list(keys), [f"{parent}.{k}" for k in keys], ondelete="CASCADE"),
    )
    if prop.filterable or prop.link:
        Index(None, child.c[keys[0]], child.c.value)
    return child


def _owner_of(keys: tuple[str, ...]) -> str:
    owner = dlcs.keyed_by(keys)
    if owner is None:
        raise LookupError(f"no class is keyed by {keys}")
    return owner.name


TABLES: dict[str, Table] = {}
CHILDREN: dict[str, dict[str, Table]] = {}
for _cls in dlcs.CLASSES:
    if _cls.name in TABLE_NAMES:
        TABLES[_cls.name], CHILDREN[_cls.name] = _build(_cls)


# The ingest queue's jobs: one row per registration of an image waiting to be ingested,
# written in the transaction that registers it. ``claimed_by`` holds it (a worker, a request
# ingesting it at once, a request publishing it to the broker) until ``expires``; a row is
# deleted once its image is ingested (or, with a broker, once the broker has the job).
ingest_jobs = Table(
    "ingest_jobs",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("customer", BigInteger, nullable=False),
    Column("space", BigInteger, nullable=False),
    Column("image", String(255), nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("expires", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
)

# Sessions of a customer's roles (IIIF Auth), kept here so that ending one ends it on every
# process at once, and grants of roles, each turned into a session once at most. What a browser
# or a client holds (a cookie, an access token, a grant) is a random value stored only as its
# SHA-256, as API keys' secrets are.
auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # (the cookie's hash)
    Column("token", String(64), nullable=False, unique=True),  # (the access token's hash)
    Column("customer", BigInteger, nullable=False),
    Column("roles", Text, nullable=False),  # (a JSON array of role keys)
    Column("expires", DateTime(timezone=True), nullable=False, index=True),
)
auth_grants = Table(
    "auth_grants",
    metadata,
    Column("id", String(64), primary_key=True),  # (the grant's hash)
    Column("customer", BigInteger, nullable=False),
    Column("roles", Text, nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False, index=True),
)

# What ingest made of an audio or video asset (its transcodes) or kept of a file (its origin),
# for delivery: one row each, of the registration (``generation``) that made it, stored at
# ``key`` (app.storage.files). Rows go with their image.
image_media = Table(
    "image_media",
    metadata,
    _key_column("customer"),
    _key_column("space"),
    _key_column("image"),
    Column("channel", String(16), primary_key=True),  # ("mp4", "mp3" or "file")
    Column("generation", BigInteger, nullable=False),
    Column("policy", String(255), nullable=True),  # (the ImageOptimisationPolicy; file: None)
    Column("key", String(1024), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("duration", BigInteger, nullable=True),  # (milliseconds)
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    ForeignKeyConstraint(
        ["customer", "space", "image"],
        ["images.customer", "images.space", "images.image"],
        ondelete="CASCADE",
    ),
)
