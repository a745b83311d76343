"""Fetching origins: http(s) streamed with limits, file:// under listed folders, SSRF-safe.

Addresses are checked when the connection is made, after DNS resolution and on every
redirect, so a host name that resolves (or is re-pointed) to a private address cannot be
used to reach the server's own network. Every failure becomes an :class:`IngestError` whose
message tells the user what went wrong with their origin.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from app.ingest.errors import IngestError

CHUNK = 64 * 1024


class Overdue(IngestError):
    """The fetch did not finish within its total time (``FetchSettings.total_timeout``)."""


class OriginRefused(OSError):
    """The origin resolves only to addresses this server may not connect to."""


@dataclass(frozen=True)
class FetchSettings:
    """The limits of fetching, from the app's configuration."""

    allow_private: bool = False
    file_dirs: tuple[str, ...] = ()
    max_bytes: int = 1024**3
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 300.0


@dataclass
class Fetched:
    """A fetched origin: the file its bytes are in (a temporary one, removed on
    :meth:`close`, or a ``file:`` origin itself), and what the server said of them."""

    path: str
    size: int
    content_type: str | None = None
    url: str = ""
    temporary: IO[bytes] | None = None

    def close(self) -> None:
        """Remove the temporary file, if any."""
        if self.temporary is not None:
            self.temporary.close()


# Special-purpose ranges of the IANA registries (RFC 6890 and later) that an origin may never
# be in, whatever this Python's ``ipaddress`` counts as global (its lists change by version).
_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "192.175.48.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2620:4f:8000::/48",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
# IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052) and
# IPv4-translated (RFC 2765). Mapped (::ffff:0:0/96) and 6to4 (2002::/16) have their own
# properties in ``ipaddress``.
_LOW_32_BITS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _LOW_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast address.

    An IPv6 address that carries an IPv4 address (mapped, NAT64, 6to4, translated) is public
    only when that IPv4 address is: the packets end up there.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_public(str(inner))
    if any(ip in net for net in _REFUSED if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def _connect(
    host: str, port: int, timeout: Any, source: Any, options: Any, allow_private: bool
) -> socket.socket:
    refused, last_error = [], None
    for family, kind, proto, _name, address in socket.getaddrinfo(
        host, port, 0, socket.SOCK_STREAM
    ):
        ip = str(address[0])
        if not allow_private and not is_public(ip):
            refused.append(ip)
            continue
        sock = socket.socket(family, kind, proto)
        try:
            for option in options or ():
                sock.setsockopt(*option)
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source:
                sock.bind(source)
            sock.connect(address)
            return sock
        except OSError as exc:
            last_error = exc
            sock.close()
    if last_error is not None:
        raise last_error
    raise OriginRefused(
        f"{host} resolves to {', '.join(refused)}, which is not a public address "
        "(DLCS_ORIGIN_ALLOW_PRIVATE=true allows such origins)"
    )


class Deadline:
    """The end of one fetch's time: its connections are shut down when it comes.

    Timeouts on each read cannot bound a whole fetch: an origin that sends a byte (or a
    header line) every second never lets one expire. At the deadline a timer shuts the
    fetch's sockets down, wherever the fetch is waiting (connecting excepted: that has its
    own timeout), and the fetch fails as :class:`Overdue`. It holds a duplicate of each
    socket, since urllib3 and TLS wrapping pass the original from hand to hand.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        """Shut the connection of ``sock`` down at the deadline (now, if it has passed)."""
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self.expired:
                duplicate.shutdown(socket.SHUT_RDWR)

    def overdue(self) -> Overdue:
        """Return the error of a fetch past its deadline."""
        return Overdue(f"the origin took longer than {self.seconds:g} s to fetch")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Guarded:
    allow_private = False
    deadline: Deadline | None = None

    def _new_conn(self) -> socket.socket:  # type: ignore[override]
        sock = self._guarded_conn()
        if self.deadline is not None:
            self.deadline.watch(sock)
        return sock

    def _guarded_conn(self) -> socket.socket:
        try:
            return _connect(
                self._dns_host,  # type: ignore[attr-defined]
                self.port,  # type: ignore[attr-defined]
                self.timeout,  # type: ignore[attr-defined]
                self.source_address,  # type: ignore[attr-defined]
                self.socket_options,  # type: ignore[attr-defined]
                self.allow_private,
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined,arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc  # type: ignore[attr-defined]
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc  # type: ignore[arg-type]


def _adapter(allow_private: bool, deadline: Deadline | None = None) -> HTTPAdapter:
    # Connection classes of one fetch: they check addresses, and end at its deadline.
    attributes = {"allow_private": allow_private, "deadline": deadline}
    http_conn = type("GuardedHTTPConnection", (_Guarded, HTTPConnection), attributes)
    https_conn = type("GuardedHTTPSConnection", (_Guarded, HTTPSConnection), attributes)
    pools = {
        "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

    return GuardedAdapter(max_retries=0)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(a for a in current.args if isinstance(a, BaseException))
    return None


def _describe(exc: requests.RequestException, url: str) -> str:
    host = urlsplit(url).hostname or url
    refused = _cause(exc, OriginRefused)
    if refused is not None:
        return f"origin refused: {refused}"
    if _cause(exc, socket.gaierror) or _cause(exc, NameResolutionError):
        return f"could not resolve the host name {host}"
    if _cause(exc, ConnectionRefusedError):
        return f"connection refused by {host}"
    if isinstance(exc, requests.ConnectTimeout):
        return f"timed out connecting to {host}"
    if isinstance(exc, requests.ReadTimeout) or _cause(exc, TimeoutError):
        return f"timed out reading from {host}"
    if isinstance(exc, requests.TooManyRedirects):
        return f"too many redirects from {url}"
    if isinstance(exc, requests.exceptions.InvalidURL):
        return f"the origin is not a valid URL: {exc}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error talking to {host}"
    return f"could not fetch {url}: {type(exc).__name__}"


def _spool(chunks: Any, settings: FetchSettings) -> tuple[IO[bytes], int]:
    # Into a file with a name: the process that decodes it (app.ingest.sandbox) opens it.
    spool = tempfile.NamedTemporaryFile(prefix="dlcs-origin-")  # noqa: SIM115 - returned open
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > settings.max_bytes:
            spool.close()
            raise IngestError(f"the origin is over the limit of {settings.max_bytes} bytes")
        spool.write(chunk)
    spool.flush()
    return spool, size


def fetch_http(url: str, settings: FetchSettings) -> Fetched:
    """Fetch an http(s) origin into a temporary file, within ``settings.total_timeout``."""
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: the SSRF check must see the origin
    session.max_redirects = 5
    with Deadline(settings.total_timeout) as deadline:
        adapter = _adapter(settings.allow_private, deadline)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            with session.get(
                url,
                stream=True,
                timeout=(settings.connect_timeout, settings.read_timeout),
                headers={"User-Agent": "dlcs-hydra ingest", "Accept": "*/*"},
            ) as response:
                if response.status_code >= 400:
                    status = f"{response.status_code} {response.reason or ''}".rstrip()
                    raise IngestError(f"the origin answered {status}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > settings.max_bytes:
                    raise IngestError(
                        f"the origin is {declared} bytes, over the limit of "
                        f"{settings.max_bytes} bytes"
                    )
                file, size = _spool(response.iter_content(CHUNK), settings)
                if deadline.expired:  # (a body cut short when its time was up)
                    file.close()
                    raise deadline.overdue()
                kind = response.headers.get("Content-Type")
                return Fetched(file.name, size, kind, response.url, temporary=file)
        except requests.RequestException as exc:
            if deadline.expired:
                raise deadline.overdue() from exc
            raise IngestError(_describe(exc, url)) from exc
        finally:
            session.close()


def fetch_file(url: str, settings: FetchSettings) -> Fetched:
    """Open a file:// origin that lies under one of the configured folders."""
    path = Path(unquote(urlsplit(url).path)).resolve()
    allowed = [Path(d).resolve() for d in settings.file_dirs]
    if not any(path == d or d in path.parents for d in allowed):
        raise IngestError("file origins are allowed only under the folders the operator lists")
    try:
        size = path.stat().st_size
        if size > settings.max_bytes:
            raise IngestError(f"the origin is over the limit of {settings.max_bytes} bytes")
        if not path.is_file():
            raise IngestError(f"{path} is not a file")
        with path.open("rb"):  # (readable by this process, so by the one that decodes it)
            return Fetched(str(path), size, None, url)
    except FileNotFoundError as exc:
        raise IngestError(f"there is no file {path}") from exc
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {os.strerror(exc.errno or 0)}") from exc


# A host name once IDNA has encoded it: letters, digits, hyphens (and underscores, which some
# names carry), in labels separated by dots.
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")


def check_http_url(url: str) -> None:
    """Fail with an :class:`IngestError` naming what is wrong when ``url`` is no valid URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise IngestError(f"the origin is not a valid URL: {exc}") from None
    host = parts.hostname
    if not host:
        raise IngestError("the origin is not a valid URL: it names no host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            name = host.encode("idna").decode()  # (labels of 1 to 63 characters, 253 in all)
        except UnicodeError:
            name = ""
        if not _HOST_NAME.fullmatch(name):
            raise IngestError(
                f"the origin is not a valid URL: the host name {host[:80]!r} is not valid"
            ) from None


def origin_fault(url: str, file_dirs: Iterable[str]) -> str | None:
    """Return what is wrong with ``url`` as an origin, before anything is fetched (None: it
    can be fetched): an absolute http or https URL, or a ``file:`` one where the operator
    lists folders of origins (``file_dirs``; which folders is checked when it is fetched)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if scheme == "file" and any(file_dirs):
        return None
    if scheme == "file":
        return "is a file: URL, which the server takes only under DLCS_ORIGIN_FILE_DIRS (none set)"
    kinds = "an absolute http or https URL" + (
        " (or a file: URL under DLCS_ORIGIN_FILE_DIRS)" if any(file_dirs) else ""
    )
    if scheme not in ("http", "https"):
        return f"must be {kinds}, such as https://example.org/photo.jpg; {url[:80]!r} is not"
    try:
        check_http_url(url)
    except IngestError as exc:
        return str(exc).removeprefix("the origin ")
    return None


def fetch(url: str, settings: FetchSettings) -> Fetched:
    """Fetch an origin of any supported scheme."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise IngestError(f"the origin is not a valid URL: {exc}") from None
    if scheme in ("http", "https"):
        check_http_url(url)
        return fetch_http(url, settings)
    if scheme == "file":
        return fetch_file(url, settings)
    raise IngestError(f"origins with the scheme {scheme or '(none)'!r} are not supported")
