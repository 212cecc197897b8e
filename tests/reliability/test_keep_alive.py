"""Idle connections are closed after ``http.keep_alive_timeout`` seconds.

Found by the attack campaign: idle connections were never closed. uvicorn closes a
kept-alive connection some seconds after its last response, but not one that has sent
nothing, or only part of a request head, so such sockets piled up without limit.
Tested with raw sockets on a real ``gateway serve`` with a 1-second timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.config import ConfigError, load_config
from gateway.http.server import keep_alive_timeout
from tests.support.auth_scenarios import seconds_until_closed
from tests.support.server import ServerProcess, start_server

TIMEOUT = 1
PATIENCE = 8  # seconds we wait for the server to close (well above TIMEOUT, well below "never")
HEALTH = b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("keepalive") / "root"
    process = start_server(root, {"GATEWAY_HTTP_KEEP_ALIVE_TIMEOUT": str(TIMEOUT)})
    try:
        yield process
    finally:
        process.stop()


def connect(server: ServerProcess) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def read_response(sock: socket.socket) -> bytes:
    """One whole response: its head, then as many body bytes as its Content-Length says.

    The body may come in a later packet than the head, so it is read explicitly: left
    unread, it would be taken for the start of the next response.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a body"
        body += chunk
    assert len(body) == length, "more bytes than one response"
    return head + b"\r\n\r\n" + body


def test_idle_after_a_response(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(HEALTH)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(HEALTH)  # the connection is kept alive and reused
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        waited = seconds_until_closed(sock, PATIENCE)
    assert waited is not None and waited < TIMEOUT + 3


def test_idle_before_any_request(server: ServerProcess) -> None:
    with connect(server) as sock:
        waited = seconds_until_closed(sock, PATIENCE)
    assert waited is not None and waited < TIMEOUT + 3


def test_stuck_in_a_request_head(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n")  # no blank line: the head never ends
        waited = seconds_until_closed(sock, PATIENCE)
    assert waited is not None and waited < TIMEOUT + 3


def test_a_request_whose_body_comes_slowly_is_not_cut(server: ServerProcess) -> None:
    """Once a request head has arrived the timer is off: a body sent after the timeout is answered."""
    body = b'{"operation": "user_info"}'
    head = (
        "POST / HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Authorization: {server.auth_header()}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(server) as sock:
        sock.sendall(head)
        time.sleep(TIMEOUT + 1)
        sock.sendall(body)
        assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_a_busy_connection_is_kept_then_closed_when_idle(server: ServerProcess) -> None:
    """Requests keep coming for longer than the timeout (each within it of the last answer): the
    connection stays open throughout, then closes a timeout after its last answer. Both ways of
    answering: the ASGI app (``GET /health``) and the protocol itself (an inline ``POST /``)."""
    body = b'{"operation": "user_info"}'
    inline = (
        "POST / HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Authorization: {server.auth_header()}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with connect(server) as sock:
        for request in [HEALTH, inline] * 5:  # about 2.5 s, against a 1 s timeout
            time.sleep(TIMEOUT / 4)
            sock.sendall(request)
            assert read_response(sock).startswith(b"HTTP/1.1 200")
        waited = seconds_until_closed(sock, PATIENCE)
    assert waited is not None and waited < TIMEOUT + 3


def test_timeout_setting(tmp_path: Path) -> None:
    def timeout(value: str) -> int:
        return keep_alive_timeout(
            load_config(root=tmp_path, environ={"GATEWAY_HTTP_KEEP_ALIVE_TIMEOUT": value})
        )

    assert keep_alive_timeout(load_config(root=tmp_path, environ={})) == 5
    assert timeout("30") == 30
    with pytest.raises(ConfigError, match="whole number of seconds >= 1, not 0"):
        timeout("0")
