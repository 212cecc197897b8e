"""csv_url_load downloads: http/https only, no private targets, capped in size and time.

``check_url`` runs before a job starts: it parses the URL, resolves the host and
refuses it when any address is not globally routable (private, loopback,
link-local, shared, reserved, multicast) unless ``allow_private``. An IPv6
address that carries an IPv4 address (IPv4-mapped, IPv4-compatible,
IPv4-translated, NAT64, 6to4, Teredo) is judged by the IPv4 address it reaches
as well, so ``[::7f00:1]`` or ``[64:ff9b::7f00:1]`` is loopback. The download
then connects to an address that was checked (not to a fresh DNS answer), sends
the original Host header (and SNI for https), follows at most a few redirects
(each checked the same way) and stops at ``max_bytes`` or ``timeout`` seconds.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from gateway.bulk.errors import SourceError

MAX_REDIRECTS = 5
ACCEPTED_TYPES = {"text/csv", "application/octet-stream", "text/plain", "application/vnd.ms-excel"}


class UrlRefused(Exception):
    """The URL may not be fetched (answered with 400 before any job or connection)."""


class FetchError(SourceError):
    """The download failed (the job ends with ERROR and this message)."""


@dataclass(frozen=True)
class CheckedUrl:
    """A URL whose host resolved only to allowed addresses."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]
    authorization: str | None


_EMBEDDING_PREFIXES = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
"""RFC 8215's local-use NAT64 prefix: translated by the operator's own rules, so never allowed."""


def reached_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address reaches by a transition mechanism (none for native IPv6).

    IPv4-mapped, IPv4-compatible, IPv4-translated and NAT64 addresses carry it in
    their last 32 bits, 6to4 (2002::/16) in bits 16-47, Teredo (2001::/32) carries
    its server and its (obfuscated) client address: both count.
    """
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    if ip in NAT64_LOCAL_USE or any(ip in prefix for prefix in _EMBEDDING_PREFIXES):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast


def refused_address(address: str) -> str | None:
    """None when ``address`` may be fetched from, else how to show it in the refusal.

    An address is refused when it, or an IPv4 address it reaches
    (:func:`reached_ipv4`), is not globally routable; the IPv4 address is named
    when it is the reason (``::7f00:1 (IPv4 127.0.0.1)``).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if _not_public(ip):
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        for ipv4 in reached_ipv4(ip):
            if _not_public(ipv4):
                return f"{address} (IPv4 {ipv4})"
        if ip in NAT64_LOCAL_USE:
            return f"{address} (local-use NAT64 prefix {NAT64_LOCAL_USE})"
    return None


def check_url(url: Any, allow_private: bool, field: str = "csv_url") -> CheckedUrl:
    """Parse and vet a URL (DNS lookup included); UrlRefused explains a refusal."""
    if not isinstance(url, str) or not url:
        raise UrlRefused(f"'{field}' is required")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"'{field}' must be a valid url") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"'{field}' must be an http or https url")
    host = parts.hostname
    if not host:
        raise UrlRefused(f"'{field}' must be a valid url")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"{field} host '{host}' cannot be resolved") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UrlRefused(f"{field} host '{host}' cannot be resolved")
    if not allow_private:
        for address in addresses:
            shown = refused_address(address)
            if shown is not None:
                raise UrlRefused(
                    f"{field} host '{host}' resolves to {shown}, a private, loopback or link-local "
                    "address: refused (set bulk.url_allow_private to allow it)"
                )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    authorization = None
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    return CheckedUrl(url, parts.scheme, host, port, target, addresses, authorization)


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a checked address, keeping the URL's host name."""

    def __init__(self, checked: CheckedUrl, timeout: float) -> None:
        super().__init__(checked.host, checked.port, timeout=timeout)
        self.checked = checked

    def connect(self) -> None:
        last: OSError | None = None
        for address in self.checked.addresses:
            try:
                sock = socket.create_connection((address, self.checked.port), self.timeout)
                break
            except OSError as exc:
                last = exc
        else:
            raise last or OSError("no address to connect to")
        if self.checked.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.checked.host)
        self.sock = sock


class Download:
    """A streaming response body with the size and time caps applied on every read."""

    def __init__(
        self,
        connection: _PinnedConnection,
        response: http.client.HTTPResponse,
        url: str,
        max_bytes: int,
        deadline: float,
    ) -> None:
        self.connection = connection
        self.response = response
        self.url = url
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.read_bytes = 0
        length = response.getheader("Content-Length")
        self.length = int(length) if length and length.isdigit() else None

    def read(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(
                f"CSV Load failed from URL: {self.url}, the download took longer than the time limit"
            )
        if self.connection.sock is not None:
            self.connection.sock.settimeout(remaining)
        try:
            data = self.response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"CSV Load failed from URL: {self.url}, {exc}") from exc
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:
            raise FetchError(
                f"CSV Load failed from URL: {self.url}, larger than the limit of {self.max_bytes} bytes"
            )
        return data

    def close(self) -> None:
        self.response.close()
        self.connection.close()


def open_url(checked: CheckedUrl, allow_private: bool, max_bytes: int, timeout: float) -> Download:
    """GET a checked URL (following redirects, re-checking each); FetchError on failure."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        connection = _PinnedConnection(checked, timeout=max(0.1, deadline - time.monotonic()))
        headers = {
            "Host": _host_header(checked),
            "Accept-Encoding": "identity",
            "User-Agent": "batch-import-gateway",
        }
        if checked.authorization:
            headers["Authorization"] = checked.authorization
        try:
            connection.request("GET", checked.target, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise FetchError(f"CSV Load failed from URL: {checked.url}, {exc}") from exc
        status = response.status
        if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            location = urllib.parse.urljoin(checked.url, response.getheader("Location") or "")
            response.close()
            connection.close()
            try:
                checked = check_url(location, allow_private)
            except UrlRefused as exc:
                raise FetchError(f"CSV Load failed from URL: {checked.url}, redirect refused: {exc}") from exc
            continue
        if status != 200:
            reason = response.reason
            response.close()
            connection.close()
            raise FetchError(
                f"CSV Load failed from URL: {checked.url}, status code: {status}, message: {reason}"
            )
        content_type = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type and content_type not in ACCEPTED_TYPES:
            response.close()
            connection.close()
            raise FetchError(
                f"CSV Load failed from URL: {checked.url}, unsupported content type: {content_type}"
            )
        download = Download(connection, response, checked.url, max_bytes, deadline)
        if download.length is not None and download.length > max_bytes:
            download.close()
            raise FetchError(
                f"CSV Load failed from URL: {checked.url}, larger than the limit of {max_bytes} bytes"
            )
        return download
    raise FetchError(f"CSV Load failed from URL: {checked.url}, more than {MAX_REDIRECTS} redirects")


def _host_header(checked: CheckedUrl) -> str:
    host = f"[{checked.host}]" if ":" in checked.host else checked.host
    default = 443 if checked.scheme == "https" else 80
    return host if checked.port == default else f"{host}:{checked.port}"
