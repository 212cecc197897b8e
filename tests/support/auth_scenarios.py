"""Helpers of the session, throttle, proxy and keep-alive scenarios (tests/reliability)."""

from __future__ import annotations

import base64

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
