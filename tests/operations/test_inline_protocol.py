"""``POST /`` answered by the HTTP protocol itself (``http.fast_path``, :mod:`gateway.http.operations_protocol`),
through a real ``gateway serve``: the same status, headers and bytes as through the ASGI app; anything
else (other operations, uncached credentials, chunked or large bodies, pipelined requests) still gets
its answer, in order."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import load_config
from gateway.http import operations_endpoint
from gateway.http.operations_protocol import INLINE_BODY_LIMIT, OperationsHttpProtocol, http_protocol
from gateway.http.server import IdleClosingHttpProtocol, uvicorn_options
from tests.conftest import ADMIN_AUTH
from tests.operations.test_fast_path import CALLS, READER, _load, _search
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, start_server

Head = tuple[int, list[tuple[bytes, bytes]]]


def _request(body: bytes, headers: dict[str, str] | None, extra: bytes = b"") -> bytes:
    lines = [b"POST / HTTP/1.1", b"Host: 127.0.0.1", b"Content-Type: application/json"]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    return b"\r\n".join([*lines, b"Content-Length: %d" % len(body)]) + b"\r\n" + extra + b"\r\n" + body


def _read_answer(stream: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One response from a buffered socket file: status, headers in order (``date`` left out), body."""
    status = int(stream.readline().split(b" ")[1])
    headers = []
    while (line := stream.readline()) != b"\r\n":
        name, _, value = line.rstrip(b"\r\n").partition(b": ")
        headers.append((name, value))
    length = int(dict(headers)[b"content-length"])
    return status, [h for h in headers if h[0] != b"date"], stream.read(length)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inline") / "root"
    _load(root)
    return root


def _answers(url: str) -> list[tuple[int, list[tuple[bytes, bytes]], bytes]]:
    """Each call of CALLS twice (the second time with cached credentials) on one connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock, sock.makefile("rb") as stream:
        out = []
        for headers, body in [*CALLS, *CALLS]:
            sock.sendall(_request(json.dumps(body).encode(), headers))
            out.append(_read_answer(stream))
        return out


def test_the_protocol_answers_the_same_bytes_as_the_asgi_app(root: Path) -> None:
    answers = {}
    for fast in ("true", "false"):
        server = start_server(root, extra_env={"GATEWAY_HTTP_FAST_PATH": fast})
        try:
            answers[fast] = _answers(server.url)
        finally:
            server.stop()
    statuses = {status for status, _, _ in answers["false"]}
    assert {200, 400, 401, 403, 404} <= statuses, statuses
    for call, before, after in zip([*CALLS, *CALLS], answers["false"], answers["true"], strict=True):
        assert after == before, call


def test_pipelined_chunked_large_and_closing_requests_are_answered_in_order(root: Path) -> None:
    server = start_server(root)
    try:
        host, port = server.url.removeprefix("http://").split(":")
        search = json.dumps(_search([1])).encode()
        padded = search[:-1] + b" " * INLINE_BODY_LIMIT + b"}"
        chunked = (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: "
            + ADMIN_AUTH["Authorization"].encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % len(search)
            + search
            + b"\r\n0\r\n\r\n"
        )
        insert = {
            "operation": "insert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 7, "dog_name": "Rex"}],
        }
        with socket.create_connection((host, int(port)), timeout=30) as sock, sock.makefile("rb") as stream:
            sock.sendall(
                _request(search, ADMIN_AUTH)
                + _request(json.dumps(insert).encode(), ADMIN_AUTH)  # not inline: the ASGI app answers
                + _request(json.dumps(_search([7])).encode(), ADMIN_AUTH)  # queued behind the insert
                + chunked
                + _request(padded, ADMIN_AUTH)
                + _request(json.dumps(_search([3])).encode(), READER)
                + _request(search, ADMIN_AUTH, b"Connection: close\r\n")
            )
            answers = [_read_answer(stream) for _ in range(7)]
            assert stream.read() == b""  # closed after the last
        assert [status for status, _, _ in answers] == [200] * 7
        assert json.loads(answers[2][2])[0]["dog_name"] == "Rex"  # the insert was answered first
        penny = answers[0][2]
        assert json.loads(penny)[0]["dog_name"] == "Penny"
        assert answers[3][2] == penny and answers[4][2] == penny and answers[6][2] == penny
        assert json.loads(answers[5][2])[0]["dog_name"] == "Kato"
        assert (b"connection", b"close") in answers[6][1]
    finally:
        server.stop()


class _CountingProtocol(OperationsHttpProtocol):
    """The real protocol; counts the requests handed to the ASGI app."""

    asgi_requests = 0

    def _start_asgi_task(self, *args: Any) -> None:
        type(self).asgi_requests += 1
        super()._start_asgi_task(*args)


@pytest.fixture
def served(root: Path) -> Iterator[tuple[str, type[_CountingProtocol]]]:
    """The gateway app on uvicorn in a thread of this process, with a counting protocol."""
    config = load_config(root=root, environ={})
    app = create_app(config, admin_username=ADMIN_USER, admin_password=ADMIN_PASSWORD)
    assert issubclass(http_protocol(config, app), OperationsHttpProtocol)
    protocol = type("Counting", (_CountingProtocol,), {"operations_app": app, "asgi_requests": 0})
    listener = socket.create_server(("127.0.0.1", 0))  # bound here: no other test process can take the port
    port = listener.getsockname()[1]
    options = {**uvicorn_options(config), "http": protocol}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[listener])))
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
            assert thread.is_alive()
        yield f"http://127.0.0.1:{port}", protocol
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


def test_only_inline_calls_with_cached_credentials_skip_the_asgi_app(
    served: tuple[str, type[_CountingProtocol]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """... and every body is parsed once, whichever answers it (the ASGI app is handed the parsed body)."""
    parsed: list[bytes] = []
    parse_body = operations_endpoint.parse_body
    monkeypatch.setattr(operations_endpoint, "parse_body", lambda raw: parsed.append(raw) or parse_body(raw))
    url, protocol = served
    host, port = url.removeprefix("http://").split(":")
    calls = [
        (ADMIN_AUTH, _search([1]), 1),  # credentials not cached yet: checked in a worker thread
        (ADMIN_AUTH, _search([1]), 0),
        (ADMIN_AUTH, _search(list(range(101))), 1),  # over the inline bound
        (ADMIN_AUTH, {"operation": "describe_table", "database": "dev", "table": "dog"}, 1),
        (ADMIN_AUTH, {"operation": "user_info"}, 0),
        (ADMIN_AUTH, _search([1], table="cat"), 0),  # 404, answered inline too
        (READER, _search([3]), 1),
        (READER, _search([3]), 0),
    ]
    with socket.create_connection((host, int(port)), timeout=30) as sock, sock.makefile("rb") as stream:
        for headers, body, asgi in calls:
            before = protocol.asgi_requests
            sock.sendall(_request(json.dumps(body).encode(), headers))
            status, _, _ = _read_answer(stream)
            assert status in (200, 404)
            assert protocol.asgi_requests - before == asgi, body
    assert len(parsed) == len(calls)


def test_trusted_proxies_or_fast_path_off_keep_the_plain_protocol(tmp_path: Path) -> None:
    for overrides in ({"http.fast_path": False}, {"http.trusted_proxies": "10.0.0.1"}):
        config = load_config(root=tmp_path, environ={}, overrides=overrides)
        assert http_protocol(config, create_app(config)) is IdleClosingHttpProtocol


def test_no_body_over_max_body_size_is_kept(tmp_path: Path) -> None:
    """A body over ``http.max_body_size`` goes to the ASGI app, whose answer is 413."""
    for size, kept in ((1_000, 1_000), (10**9, INLINE_BODY_LIMIT)):
        config = load_config(root=tmp_path, environ={}, overrides={"http.max_body_size": size})
        assert http_protocol(config, create_app(config)).body_limit == kept
