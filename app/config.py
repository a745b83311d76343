"""The one place that reads the environment."""

from __future__ import annotations

import os


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings of the app, read from the environment when the app is created."""

    def __init__(self) -> None:
        # SQLAlchemy URL; None means an SQLite file in the instance folder.
        self.DATABASE_URL: str | None = os.environ.get("DATABASE_URL") or None
        # The public base URL every @id is built from; None means the request's own.
        self.PUBLIC_BASE_URL: str | None = (
            os.environ.get("DLCS_PUBLIC_BASE_URL", "").rstrip("/") or None
        )
        # The hosts a request's Host header may name, when there is no public base URL (the
        # Host is then what every @id is built from): others are refused (400), so that no
        # cache in front keeps a document naming a host an attacker sent. A leading dot
        # allows subdomains. None (with a public base URL): any, since none is reflected.
        hosts = [h.strip() for h in os.environ.get("DLCS_TRUSTED_HOSTS", "").split(",")]
        self.TRUSTED_HOSTS: list[str] | None = [h for h in hosts if h] or (
            None if self.PUBLIC_BASE_URL else ["localhost", "127.0.0.1"]
        )
        # Apply migrations at start-up; defaults to on for SQLite (an embedded database).
        self.AUTO_MIGRATE: bool | None = (
            _flag("DLCS_AUTO_MIGRATE", False) if "DLCS_AUTO_MIGRATE" in os.environ else None
        )
        # Origins allowed to read responses from a browser ("*" for any).
        self.CORS_ORIGINS: str = os.environ.get("DLCS_CORS_ORIGINS", "*")
        # How long a process trusts what the database said of an API key (0: never).
        self.AUTH_CACHE_SECONDS: float = float(os.environ.get("DLCS_AUTH_CACHE_SECONDS", 10))
        # How long a browser may keep a response that needed an API key (Cache-Control:
        # private, max-age); 0: it asks again each time (no-cache), with its ETag (304).
        self.API_MAX_AGE: int = int(os.environ.get("DLCS_API_MAX_AGE", 0))
        # How long anyone, shared caches included, may keep what needs no key (the API
        # documentation, contexts, the entry point): Cache-Control: public, max-age.
        self.PUBLIC_MAX_AGE: int = int(os.environ.get("DLCS_PUBLIC_MAX_AGE", 300))
        # The largest request body accepted (413 beyond it).
        self.MAX_CONTENT_LENGTH: int = int(os.environ.get("DLCS_MAX_BODY_BYTES", 16 * 2**20))
        # PostgreSQL ends any statement of the API's that runs longer (503; 0: no limit).
        self.STATEMENT_TIMEOUT: float = float(os.environ.get("DLCS_STATEMENT_TIMEOUT", 30))
        # The most values a collection's filters may ask for in one request (400 beyond it).
        self.MAX_FILTER_VALUES: int = int(os.environ.get("DLCS_MAX_FILTER_VALUES", 100))
        # The most triples an RDF body (Turtle, N-Triples, RDF/XML) may hold (400 beyond it).
        self.MAX_BODY_TRIPLES: int = int(os.environ.get("DLCS_MAX_BODY_TRIPLES", 10_000))

        # Ingest: where origins may be fetched from, and within which limits.
        self.ORIGIN_ALLOW_PRIVATE: bool = _flag("DLCS_ORIGIN_ALLOW_PRIVATE", False)
        self.ORIGIN_FILE_DIRS: list[str] = [
            d for d in os.environ.get("DLCS_ORIGIN_FILE_DIRS", "").split(os.pathsep) if d
        ]
        self.ORIGIN_MAX_BYTES: int = int(os.environ.get("DLCS_ORIGIN_MAX_BYTES", 2**30))
        self.ORIGIN_CONNECT_TIMEOUT: float = float(os.environ.get("DLCS_ORIGIN_CONNECT_TIMEOUT", 5))
        self.ORIGIN_READ_TIMEOUT: float = float(os.environ.get("DLCS_ORIGIN_READ_TIMEOUT", 30))
        # How long a request that ingests at once (a PUT with an origin) waits for it: past
        # this the job goes to the queue and the answer is 202 (the image still ingesting).
        self.IMMEDIATE_INGEST_SECONDS: float = float(
            os.environ.get("DLCS_IMMEDIATE_INGEST_SECONDS", 30)
        )
        # One deadline for a whole fetch (connect, headers, body) by an ingest worker.
        self.ORIGIN_TOTAL_TIMEOUT: float = float(os.environ.get("DLCS_ORIGIN_TOTAL_TIMEOUT", 300))
        self.MAX_IMAGE_PIXELS: int = int(os.environ.get("DLCS_MAX_IMAGE_PIXELS", 250_000_000))
        # Each origin is decoded in a process of its own: the memory its decoders may take at
        # once (an image that would need more to decode is refused before decoding), and the
        # longest it may take (then it is ended).
        self.INGEST_MEMORY_MB: float = float(os.environ.get("DLCS_INGEST_MEMORY_MB", 1024))
        self.INGEST_SECONDS: float = float(os.environ.get("DLCS_INGEST_SECONDS", 300))
        # Audio and video (family T): the longest an origin may last, the longest one
        # transcode may take (then it is ended), and the threads each decoder and encoder uses.
        self.AV_MAX_SECONDS: float = float(os.environ.get("DLCS_AV_MAX_SECONDS", 4 * 3600))
        self.TRANSCODE_SECONDS: float = float(os.environ.get("DLCS_TRANSCODE_SECONDS", 3600))
        self.TRANSCODE_THREADS: int = int(os.environ.get("DLCS_TRANSCODE_THREADS", 2))
        # An image whose file ends before its pixels do: "error" (its ingest fails, saying so),
        # or "warning" (made as far as it goes, the rest grey, and the image's warning says so).
        self.INGEST_TRUNCATED: str = os.environ.get("DLCS_INGEST_TRUNCATED", "error")
        # The largest image the IIIF Image API makes (declared as maxWidth/maxHeight, maxArea).
        self.IIIF_MAX_WIDTH: int = int(os.environ.get("DLCS_IIIF_MAX_WIDTH", 10_000))
        self.IIIF_MAX_AREA: int = int(os.environ.get("DLCS_IIIF_MAX_AREA", 25_000_000))
        # How long caches in front may keep an image or info.json before asking again.
        self.DELIVERY_MAX_AGE: int = int(os.environ.get("DLCS_DELIVERY_MAX_AGE", 3600))
        # Manifests change with their images' metadata: how long caches may keep one.
        self.MANIFEST_MAX_AGE: int = int(os.environ.get("DLCS_MANIFEST_MAX_AGE", 60))
        # The most canvases a named query's manifest has (a query matching more is refused).
        self.MANIFEST_MAX_CANVASES: int = int(os.environ.get("DLCS_MANIFEST_MAX_CANVASES", 10_000))
        # Derivatives in an S3-compatible bucket shared by every machine (s3://bucket/prefix),
        # at an endpoint of its own if not AWS's; credentials as boto3 finds them (AWS_*).
        self.STORAGE_URL: str | None = os.environ.get("DLCS_STORAGE_URL") or None
        self.S3_ENDPOINT_URL: str | None = os.environ.get("DLCS_S3_ENDPOINT_URL") or None
        # With a bucket: where this machine keeps what it read, and how much at most.
        self.CACHE_DIR: str | None = os.environ.get("DLCS_CACHE_DIR") or None
        self.CACHE_MB: float = float(os.environ.get("DLCS_CACHE_MB", 2048))
        # Where derivatives are written without a bucket; None: a folder in the instance folder.
        self.STORAGE_DIR: str | None = os.environ.get("DLCS_STORAGE_DIR") or None
        # A Celery broker (amqp://, redis://) for `dlcs worker` processes; None: embedded queue.
        self.BROKER_URL: str | None = os.environ.get("DLCS_BROKER_URL") or None
        self.QUEUE_NAME: str = os.environ.get("DLCS_QUEUE_NAME", "dlcs-ingest")
        # With a broker: how long the request that queued jobs has to publish them before a
        # dlcs worker publishes them instead (it died, or the broker was down).
        self.OUTBOX_SECONDS: float = float(os.environ.get("DLCS_OUTBOX_SECONDS", 60))
        # Run the embedded queue in a thread of the web server (when there is no broker).
        self.EMBEDDED_WORKER: bool = _flag("DLCS_EMBEDDED_WORKER", True)

        # Access to images with roles. The secret that signs sessions and grants, the same on
        # every machine; None: one made on first start and kept in the instance folder.
        self.SECRET_KEY: str | None = os.environ.get("DLCS_SECRET_KEY") or None
        # How long a session lasts, and how long a grant may wait to be turned into one.
        self.AUTH_SESSION_SECONDS: int = int(os.environ.get("DLCS_AUTH_SESSION_SECONDS", 600))
        self.AUTH_GRANT_SECONDS: int = int(os.environ.get("DLCS_AUTH_GRANT_SECONDS", 120))
        # Session cookies are SameSite=None; Secure (HTTPS); false: Lax, for plain local HTTP.
        self.AUTH_COOKIE_SECURE: bool = _flag("DLCS_AUTH_COOKIE_SECURE", True)
        # URLs a customer stores that a browser is sent to (a role's signInUrl) may be http
        # as well as https (for a test machine).
        self.ALLOW_HTTP_URLS: bool = _flag("DLCS_ALLOW_HTTP_URLS", False)

    def as_dict(self) -> dict[str, object]:
        """Return the settings as a mapping for ``app.config.from_mapping``."""
        return {k: v for k, v in vars(self).items() if k.isupper()}
