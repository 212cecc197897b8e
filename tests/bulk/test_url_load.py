"""csv_url_load: a real http.server on 127.0.0.1, private-address refusal, caps, HTTP errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.bulk.helpers import all_records, run_job
from tests.conftest import ADMIN_AUTH, Ops, make_client


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tmp_path/www; its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "breeds.csv").write_text("id,name\n1,ENGLISH POINTER\n2,ENGLISH SETTER\n3,KERRY BLUE TERRIER\n")

    def handler(*args: Any) -> _QuietHandler:
        return _QuietHandler(*args, directory=str(www))

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _body(url: str) -> dict[str, Any]:
    return {
        "operation": "csv_url_load",
        "action": "insert",
        "database": "dev",
        "table": "breed",
        "csv_url": url,
    }


@pytest.fixture
def allowed(tmp_path: Path) -> Iterator[Ops]:
    with make_client(
        tmp_path / "root", **{"bulk.url_allow_private": True, "bulk.url_max_bytes": 4096}
    ) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
        yield op


def test_loads_from_a_local_server_when_private_targets_are_allowed(allowed: Ops, web: str) -> None:
    job = run_job(allowed, _body(f"{web}/breeds.csv"))
    assert (job["status"], job["message"], job["type"]) == (
        "COMPLETE",
        "successfully loaded 3 of 3 records",
        "csv_url_load",
    )
    assert [r["name"] for r in all_records(allowed, "dev", "breed")][0] == "ENGLISH POINTER"


def test_a_404_ends_the_job_with_an_error_naming_the_status(allowed: Ops, web: str) -> None:
    job = run_job(allowed, _body(f"{web}/missing.csv"))
    assert job["status"] == "ERROR"
    assert (
        job["message"]
        == f"CSV Load failed from URL: {web}/missing.csv, status code: 404, message: File not found"
    )


def test_a_download_over_the_size_cap_is_an_error(allowed: Ops, web: str, tmp_path: Path) -> None:
    (tmp_path / "www" / "big.csv").write_text("id,v\n" + "".join(f"{i},{'x' * 50}\n" for i in range(200)))
    job = run_job(allowed, _body(f"{web}/big.csv"))
    assert job["status"] == "ERROR"
    assert "larger than the limit of 4096 bytes" in job["message"]


@pytest.fixture
def no_outside_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any connection attempt to an address outside 127.0.0.0/8."""
    attempts: list[Any] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else ""
        if not str(host).startswith("127."):
            raise AssertionError(f"connection attempted to {address}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "192.168.1.20"])
def test_private_loopback_and_link_local_targets_are_refused_before_any_connection(
    op: Ops, no_outside_connections: list[Any], host: str
) -> None:
    op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
    error = op(_body(f"http://{host}:8080/breeds.csv"), 400)["error"]
    shown = host.strip("[]")
    assert error == (
        f"csv_url host '{shown}' resolves to {shown}, a private, loopback or link-local address: "
        "refused (set bulk.url_allow_private to allow it)"
    )
    assert no_outside_connections == []


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/x.csv", "'csv_url' must be an http or https url"),
        ("file:///etc/passwd", "'csv_url' must be an http or https url"),
        ("not a url", "'csv_url' must be an http or https url"),
        (None, "'csv_url' is required"),
    ],
)
def test_only_http_and_https_urls(op: Ops, url: Any, error: str) -> None:
    op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
    assert op(_body(url), 400) == {"error": error}
