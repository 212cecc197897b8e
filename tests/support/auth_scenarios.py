"""Helpers of the session, throttle, proxy and keep-alive scenarios (tests/reliability)."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from starlette.testclient import TestClient

from gateway.auth.login_throttle import PasswordThrottle


class ManualClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def manual_throttle(
    client: TestClient, max_failures: int = 5, window: float = 300, user_max_failures: int = 50
) -> ManualClock:
    """Give the app's auth family a password throttle on a manual clock; that clock."""
    clock = ManualClock()
    client.app.state.gateway.auth.password_throttle = PasswordThrottle(  # type: ignore[attr-defined]
        max_failures, window, user_max_failures, clock=clock
    )
    return clock


def from_address(client: TestClient, host: str) -> TestClient:
    """Another client of the same running app, seen as coming from ``host``."""
    return TestClient(client.app, client=(host, 40000))


def basic_header(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def post_json(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], Any]:
    """POST JSON to a real server; (status, lower-cased headers, decoded body)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                json.loads(response.read()),
            )
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(raw) if raw else None


def post_form(
    url: str, fields: dict[str, str], headers: dict[str, str], timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """POST an urlencoded form to a real server; (status, lower-cased headers, raw body)."""
    data = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in fields.items()).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def seconds_until_closed(sock: socket.socket, limit: float) -> float | None:
    """Read (and drop) whatever arrives until the server closes the connection; the seconds
    that took, or None if it was still open after ``limit`` seconds."""
    started = time.monotonic()
    deadline = started + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return time.monotonic() - started
        if not data:
            return time.monotonic() - started
