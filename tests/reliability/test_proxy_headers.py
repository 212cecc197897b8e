"""``X-Forwarded-For`` counts only from configured proxies (``http.trusted_proxies``).

Found by the attack campaign: uvicorn trusts forwarded headers from 127.0.0.1 by
default, so a local client rotating ``X-Forwarded-For`` was a new address for every
attempt and no throttle ever held. Tested on a real ``gateway serve``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.http.server import trusted_proxies, uvicorn_options
from tests.support.auth_scenarios import basic_header, post_form, post_json
from tests.support.server import ServerProcess, start_server

API = "/api/haplo-data-import-batch/"
INVALID = b'{"success":false,"kind":"INVALID-API-KEY","error":{"message":"Invalid API Key"}}'
THROTTLED = b'{"success":false,"kind":"THROTTLE","error":{"message":"too many failed attempts from this address; retry in N s"}}'
LIMITS = {
    "GATEWAY_AUTHENTICATION_API_KEY_MAX_FAILURES": "3",
    "GATEWAY_AUTHENTICATION_PASSWORD_MAX_FAILURES": "3",
}


def bad_key(server: ServerProcess, forwarded_for: str) -> bytes:
    """A wrong API key sent with a (spoofed) X-Forwarded-For; the 403 body."""
    status, _, body = post_form(
        server.url + API + "schedule",
        {"batch": "probe"},
        {**basic_header("haplo", "k" * 44), "X-Forwarded-For": forwarded_for},
    )
    assert status == 403
    return re.sub(rb"retry in \d+ s", b"retry in N s", body)


def ops_login(server: ServerProcess, password: str, forwarded_for: str) -> int:
    """A Basic-auth operation as user ``ops`` with a (spoofed) X-Forwarded-For; the status."""
    status, _, _ = post_json(
        server.url + "/",
        {"operation": "user_info"},
        {**basic_header("ops", password), "X-Forwarded-For": forwarded_for},
    )
    return status


def add_ops_user(server: ServerProcess) -> None:
    status, answer = server.op(
        {"operation": "add_user", "username": "ops", "password": "ops-password", "role": "super_user"}
    )
    assert status == 200, answer


@pytest.fixture
def untrusting(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "root", LIMITS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def behind_local_proxy(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "root", {**LIMITS, "GATEWAY_HTTP_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        yield server
    finally:
        server.stop()


def test_spoofed_forwarded_for_does_not_escape_the_throttles(untrusting: ServerProcess) -> None:
    add_ops_user(untrusting)
    for n in range(1, 4):
        assert bad_key(untrusting, f"198.51.100.{n}") == INVALID
    assert bad_key(untrusting, "198.51.100.4") == THROTTLED

    for n in range(1, 4):
        assert ops_login(untrusting, "wrong", f"203.0.113.{n}") == 401
    assert ops_login(untrusting, "ops-password", "203.0.113.4") == 429


def test_forwarded_for_counts_from_a_configured_proxy(behind_local_proxy: ServerProcess) -> None:
    server = behind_local_proxy
    add_ops_user(server)
    for n in range(1, 6):
        assert bad_key(server, f"198.51.100.{n}") == INVALID  # five different clients
    for _ in range(3):
        assert bad_key(server, "198.51.100.9") == INVALID
    assert bad_key(server, "198.51.100.9") == THROTTLED  # one client, behind the proxy
    assert bad_key(server, "198.51.100.10") == INVALID

    for _ in range(3):
        assert ops_login(server, "wrong", "203.0.113.9") == 401
    assert ops_login(server, "ops-password", "203.0.113.9") == 429
    assert ops_login(server, "ops-password", "203.0.113.10") == 200  # the right password elsewhere


def test_trusted_proxies_setting(tmp_path: Path) -> None:
    def proxies(value: str) -> list[str]:
        config = load_config(root=tmp_path, environ={"GATEWAY_HTTP_TRUSTED_PROXIES": value})
        return trusted_proxies(config)

    assert uvicorn_options(load_config(root=tmp_path, environ={}))["proxy_headers"] is False
    assert proxies("10.0.0.5") == ["10.0.0.5"]
    assert proxies("10.0.0.5,10.0.0.0/24") == ["10.0.0.5", "10.0.0.0/24"]
    assert proxies('["::1", 10.0.0.5]') == ["::1", "10.0.0.5"]
    with pytest.raises(ConfigError, match="'proxy.example' is not an IP address or network"):
        proxies("proxy.example")


def test_serve_refuses_a_bad_proxy_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_HTTP_TRUSTED_PROXIES"] = "*"
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--root", str(tmp_path / "root"), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "http.trusted_proxies: '*' is not an IP address or network" in done.stderr
