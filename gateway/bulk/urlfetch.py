"""csv_url_load downloads: http/https only, no private targets, capped in size and time.

``check_url`` runs before a job starts: it parses the URL, resolves the host and
refuses it when any address is not globally routable (private, loopback,
link-local, shared, reserved, multicast) unless ``allow_private``. The download
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


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


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
            if _refused_address(address):
                raise UrlRefused(
                    f"{field} host '{host}' resolves to {address}, a private, loopback or link-local "
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
