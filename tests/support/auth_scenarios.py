"""Helpers of the session, throttle, proxy and keep-alive scenarios (tests/reliability)."""

from __future__ import annotations

from starlette.testclient import TestClient


class ManualClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def from_address(client: TestClient, host: str) -> TestClient:
    """Another client of the same running app, seen as coming from ``host``."""
    return TestClient(client.app, client=(host, 40000))
