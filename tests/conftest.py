"""Shared fixtures: the real app on a temp root (real RocksDB, real scheduler).

``client`` runs the app on the ``backend`` fixture's store: RocksDB here; suites that
run on every backend parametrize ``backend`` (then PostgreSQL: a schema of its own in
the run's database, which is dropped when the session ends). ``GATEWAY_TEST_BACKEND=postgres``
puts every other app of the run (``client``, ``make_client``) on PostgreSQL too, and
``GATEWAY_TEST_BACKEND=postgres+s3`` their uploaded files in S3 as well (moto, ``tests.support.s3``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import load_config
from tests.support.postgres import drop_run_database, store_overrides
from tests.support.s3 import stop_moto_s3
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ADMIN_AUTH = basic(ADMIN_USER, ADMIN_PASSWORD)


def make_client(root: Path, **overrides: Any) -> TestClient:
    """A TestClient for a fresh app on ``root`` (use it as a context manager)."""
    overrides = {**store_overrides(default_backend(), root), **overrides}
    config = load_config(root=root, environ={}, overrides=overrides)
    app = create_app(config, admin_username=ADMIN_USER, admin_password=ADMIN_PASSWORD)
    return TestClient(app)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def default_backend() -> str:
    """The backend of apps whose test does not choose one (``GATEWAY_TEST_BACKEND``, else rocksdb)."""
    return os.environ.get("GATEWAY_TEST_BACKEND") or "rocksdb"


@pytest.fixture
def backend() -> str:
    """The storage backend of the app under test (``tests.support.postgres.BACKENDS``)."""
    return default_backend()


@pytest.fixture
def client(root: Path, backend: str) -> Iterator[TestClient]:
    """The real app with its lifespan running, on a temp root."""
    with make_client(root, **store_overrides(backend, root)) as test_client:
        yield test_client


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``one_process_per_backend`` (an acceptance run: one server and runner per backend, a
    module fixture) go to one test process per backend; the ``slow`` tests go first
    (:func:`pytest_slow_tests_first`)."""
    for item in items:
        if item.get_closest_marker("one_process_per_backend") is not None:
            callspec = getattr(item, "callspec", None)
            backend = callspec.params.get("backend", "") if callspec is not None else ""
            item.add_marker(pytest.mark.xdist_group(f"{item.path.stem}-{backend}"))


# after pytest has ordered the items by their parametrized fixtures
@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_slow_tests_first(items: list[pytest.Item]) -> None:
    """The ``slow`` tests first, so that no long test starts last while the other test processes are idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_run_database()
    stop_moto_s3()


class Ops:
    """Posts operations as a given user."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def __call__(self, body: dict[str, Any], expect: int | None = 200) -> Any:
        response = self.client.post("/", json=body, headers=self.headers)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def raw(self, body: dict[str, Any]) -> Any:
        return self.client.post("/", json=body, headers=self.headers)


@pytest.fixture
def op(client: TestClient) -> Ops:
    """``op({...})`` posts an operation as the admin and returns the decoded answer."""
    return Ops(client, ADMIN_AUTH)
