"""Where derivatives are kept: a local folder, or an S3-compatible bucket every machine shares.

Files are named by keys such as ``derivatives/1/2/{sha256}/{generation}/pyramid.tif``. Ingest
makes a registration's files in a work folder and publishes the folder whole; delivery reads
them. With a bucket (``DLCS_STORAGE_URL=s3://bucket/prefix``), web servers and ``dlcs worker``
processes on different machines see the same files, and each machine keeps what it read in
a bounded cache on its own disk (``DLCS_CACHE_DIR``, ``DLCS_CACHE_MB``, the least recently
used out first), so that every tile after an image's first is a local read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

log = logging.getLogger(__name__)


class Files(Protocol):
    """The files of derivatives, by key."""

    def __hash__(self) -> int:
        """(what a process keeps of the files, :func:`app.delivery.images.open_pyramid`, is
        kept per store)"""
        ...

    def work_folder(self) -> Path:
        """Return a new empty folder to make files in before :meth:`publish`."""
        ...

    def publish(self, folder: Path, prefix: str) -> None:
        """Put every file of ``folder`` under ``prefix`` (replacing what is there), then
        remove the folder."""
        ...

    def open(self, key: str) -> IO[bytes] | None:
        """Return the file ``key`` open for reading, or None when there is none.

        What is open stays readable whatever happens to the file meanwhile (a cache's
        eviction, a new registration's publishing): a path could name nothing by the time
        it was opened.
        """
        ...

    def read(self, key: str) -> bytes | None:
        """Return the bytes of the file ``key``, or None when there is none."""
        ...

    def read_range(self, key: str, offset: int, length: int) -> bytes | None:
        """Return ``length`` bytes of the file ``key`` from ``offset``, or None when there is
        no such file."""
        ...

    def stream(self, key: str, start: int, stop: int) -> Iterable[bytes] | None:
        """Return the bytes of the file ``key`` from ``start`` up to ``stop``, read a chunk at
        a time as they are sent (a file of gigabytes is never held at once), or None when
        there is no such file."""
        ...

    def remove(self, prefix: str, keep: str | None = None) -> None:
        """Remove every file under ``prefix``, but those under ``prefix/keep`` if given."""
        ...


class LocalFiles:
    """Files in a folder of this machine (the embedded default: ``DLCS_STORAGE_DIR``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def work_folder(self) -> Path:
        # (on the same file system as the files, so publishing is a rename)
        folder = self.root / ".work" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def publish(self, folder: Path, prefix: str) -> None:
        target = self.root / prefix
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, target)

    def open(self, key: str) -> IO[bytes] | None:
        try:
            return (self.root / key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            return None

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def read_range(self, key: str, offset: int, length: int) -> bytes | None:
        try:
            return _pread(self.root / key, offset, length)
        except FileNotFoundError:
            return None

    def stream(self, key: str, start: int, stop: int) -> Iterable[bytes] | None:
        file = self.open(key)
        return None if file is None else _chunks(file, start, stop)

    def remove(self, prefix: str, keep: str | None = None) -> None:
        folder = self.root / prefix
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
            return
        for child in folder.glob("*"):
            if child.name != keep:
                shutil.rmtree(child, ignore_errors=True)


def _pread(path: Path, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


CHUNK = 256 * 1024


def _chunks(file: IO[bytes], start: int, stop: int) -> Iterator[bytes]:
    # The bytes of an open file from start up to stop, a chunk at a time; closed at the end
    # (or when the server closes the response early: a player that seeks elsewhere).
    with file:
        file.seek(start)
        left = stop - start
        while left > 0:
            chunk = file.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


class DiskCache:
    """Files kept on this machine's disk: at most ``limit`` bytes, least recently used out first.

    A file is named by the SHA-256 of its key; reading one marks it used (its time of last
    modification), and a file that takes the total past the limit has the least recently
    used ones removed until a tenth is free. Processes of a machine may share the folder:
    each keeps an estimate of the total, and counts the folder again before removing.
    """

    def __init__(self, root: str | Path, limit: int) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.limit = limit
        self.lock = threading.Lock()
        self.used = sum(size for size, _, _ in self._files())

    def _path(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()

    def _files(self) -> list[tuple[int, float, Path]]:
        found = []
        for path in self.root.iterdir():
            try:
                stat = path.stat()
            except FileNotFoundError:  # (removed by another process meanwhile)
                continue
            if not path.name.startswith("."):
                found.append((stat.st_size, stat.st_mtime, path))
        return found

    def get(self, key: str) -> Path | None:
        """Return the file kept for ``key`` (marking it used), or None."""
        path = self._path(key)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def put(self, key: str, stream: Any) -> Path:
        """Keep what ``stream`` reads as the file of ``key``; return it."""
        path = self._path(key)
        temporary = self.root / f".{path.name}.{uuid.uuid4().hex}"
        with temporary.open("wb") as out:
            shutil.copyfileobj(stream, out, 2**20)
        size = temporary.stat().st_size
        os.replace(temporary, path)
        with self.lock:
            self.used += size
            if self.used > self.limit:
                self._evict(keep=path)
        return path

    def discard(self, key: str) -> None:
        """Forget the file of ``key``, if any."""
        self._path(key).unlink(missing_ok=True)

    def _evict(self, keep: Path) -> None:
        files = sorted(self._files(), key=lambda found: found[1])
        total = sum(size for size, _, _ in files)
        for size, _, path in files:
            if total <= self.limit * 0.9:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
        self.used = total


class BucketFiles:
    """Files in an S3-compatible bucket, read through a bounded cache on this machine's disk.

    A part of a file that is not cached yet (a tile of a pyramid) is read from the bucket by
    itself, while the whole file is fetched into the cache in the background: the first tile
    of an image waits for its own bytes only, not for a pyramid of hundreds of megabytes.
    """

    def __init__(
        self, url: str, *, endpoint: str | None, cache_dir: str | Path, cache_bytes: int
    ) -> None:
        parts = urlsplit(url)
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"}),
        )
        self.cache = DiskCache(cache_dir, cache_bytes)
        self.fetching: set[str] = set()
        self.lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def work_folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="dlcs-work-"))

    def publish(self, folder: Path, prefix: str) -> None:
        try:
            self.remove(prefix)
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    key = f"{prefix}/{path.relative_to(folder).as_posix()}"
                    self.client.upload_file(str(path), self.bucket, self._key(key))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def open(self, key: str) -> IO[bytes] | None:
        # (a file evicted between its fetch and its opening is fetched again)
        for _ in range(3):
            path = self.cached(key)
            if path is None:
                return None
            try:
                return path.open("rb")
            except FileNotFoundError:
                continue
        raise OSError(f"{key} was evicted from the cache as soon as it was fetched, three times")

    def cached(self, key: str) -> Path | None:
        """Return the file ``key`` in this machine's cache (fetched, if it was not), or None
        when the bucket has none. A path may name nothing by the time it is read: read
        through :meth:`open`."""
        found = self.cache.get(key)
        if found is not None:
            return found
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        with body:
            return self.cache.put(key, body)

    def read(self, key: str) -> bytes | None:
        file = self.open(key)
        if file is None:
            return None
        with file:
            return file.read()

    def read_range(self, key: str, offset: int, length: int) -> bytes | None:
        path = self.cache.get(key)
        if path is not None:
            try:
                return _pread(path, offset, length)
            except FileNotFoundError:  # (removed from the cache by another process meanwhile)
                pass
        body = self._ranged_get(key, offset, offset + length)
        if body is None:
            return None
        with body as stream:
            data = stream.read()
        # (after the part is read: the whole file's fetch would only slow this one down)
        self._fetch_in_background(key)
        return data

    def stream(self, key: str, start: int, stop: int) -> Iterable[bytes] | None:
        # From this machine's cache when a tile's read left it there, else by one ranged GET
        # of just those bytes (a player seeking into a video of gigabytes), streamed.
        path = self.cache.get(key)
        if path is not None:
            try:
                return _chunks(path.open("rb"), start, stop)
            except FileNotFoundError:  # (removed from the cache by another process meanwhile)
                pass
        if stop <= start:
            return iter(())
        body = self._ranged_get(key, start, stop)
        return None if body is None else _body_chunks(body)

    def _ranged_get(self, key: str, start: int, stop: int) -> Any:
        # The body of one GET of the bytes from start up to stop of the file; None: no file.
        span = f"bytes={start}-{stop - 1}"
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=span)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return found["Body"]

    def _fetch_in_background(self, key: str) -> None:
        # One fetch of a file at a time per process, however many of its parts are asked for.
        with self.lock:
            if key in self.fetching:
                return
            self.fetching.add(key)

        def fetch() -> None:
            try:
                self.cached(key)
            except Exception:  # (the next read tries again; this one is only ahead of time)
                log.warning("fetching %s into the cache failed", key, exc_info=True)
            finally:
                with self.lock:
                    self.fetching.discard(key)

        threading.Thread(target=fetch, name="dlcs-cache-fetch", daemon=True).start()

    def remove(self, prefix: str, keep: str | None = None) -> None:
        kept = f"{self._key(prefix)}/{keep}/" if keep is not None else None
        paginator = self.client.get_paginator("list_objects_v2")
        doomed = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/"):
            for item in page.get("Contents", ()):
                if kept is None or not item["Key"].startswith(kept):
                    doomed.append(item["Key"])
        for start in range(0, len(doomed), 1000):
            objects = [{"Key": k} for k in doomed[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})  # type: ignore[typeddict-item]
        for key in doomed:  # (this machine's cache; others' keep them until they are evicted)
            self.cache.discard(key.removeprefix(f"{self.prefix}/") if self.prefix else key)


def _body_chunks(body: Any) -> Iterator[bytes]:
    with body:
        yield from body.iter_chunks(CHUNK)


def files_of(config: Any, instance_path: str) -> Files:
    """Return the files of an app's configuration: its bucket, or else its folder."""
    url = config.get("STORAGE_URL")
    if url:
        if not url.startswith("s3://"):
            raise ValueError(f"DLCS_STORAGE_URL must be s3://bucket/prefix, not {url!r}")
        return BucketFiles(
            url,
            endpoint=config.get("S3_ENDPOINT_URL"),
            cache_dir=config.get("CACHE_DIR") or f"{instance_path}/cache",
            cache_bytes=int(float(config.get("CACHE_MB", 2048)) * 2**20),
        )
    return LocalFiles(config.get("STORAGE_DIR") or f"{instance_path}/storage")
