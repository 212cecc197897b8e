"""Fixtures of the batch API tests: an API key, a registered model, a batch API client.

The tests that run an app run it on each storage backend (``backend``, module-scoped so
that a module's shared app is one per backend). The modules about uploads and runs
(endpoints, uploads, runs, the acceptance cases) also run with the uploaded files in S3
(``postgres+s3``: moto, ``tests.support.s3``): they declare ``backend = backend_setups(*WITH_S3)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import ADMIN_AUTH, basic, make_client
from tests.support.people import person_control
from tests.support.postgres import BACKENDS, store_overrides
from tests.support.s3 import snapshot as files_snapshot

API = "/api/haplo-data-import-batch/"
CASES = Path(__file__).resolve().parents[2].parent / "shared" / "haplo_cases"
REPO = Path(__file__).resolve().parents[2]
PERSON_MODEL = REPO / "control_files" / "haplo-person.model.json"


def person_model() -> dict[str, Any]:
    """The shipped haplo:person model."""
    return json.loads(PERSON_MODEL.read_text("utf-8"))


class BatchApi:
    """The batch endpoints as the ``haplo`` user with one key, plus admin operations."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key
        self.headers = basic("haplo", key)

    def op(self, body: dict[str, Any], expect: int | None = 200) -> Any:
        response = self.client.post("/", json=body, headers=ADMIN_AUTH)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def post(self, endpoint: str, data: dict[str, str] | None = None, files: Any = None, **kw: Any) -> Any:
        headers = kw.pop("headers", self.headers)
        return self.client.post(API + endpoint, data=data, files=files, headers=headers, **kw)

    def upload_control(self, control: Any, comment: str | None = None) -> str:
        raw = control if isinstance(control, bytes) else json.dumps(control).encode()
        data = {"comment": comment} if comment else None
        response = self.post("control", data, {"file": ("control.json", raw)})
        assert response.status_code == 200, response.text
        return str(response.text)

    def create_batch(self, digest: str, comment: str | None = None) -> str:
        data = {"control": digest, **({"comment": comment} if comment else {})}
        response = self.post("batch", data)
        assert response.status_code == 200, response.text
        return str(response.text)

    def add_file(self, batch: str, name: str, content: bytes, filename: str = "data.json") -> str:
        response = self.post("file", {"batch": batch, "name": name}, {"file": (filename, content)})
        assert response.status_code == 200, response.text
        return str(response.text)

    def schedule(self, batch: str, mode: str | None = None) -> None:
        response = self.post("schedule", {"batch": batch, **({"mode": mode} if mode else {})})
        assert (response.status_code, response.text) == (200, "SCHEDULED")

    def wait(self, batch: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            info = self.op({"operation": "get_import_batch", "batch": batch})
            if info["state"] not in ("scheduled", "running"):
                return dict(info)
            assert time.monotonic() < deadline, f"batch still {info['state']}"
            time.sleep(0.05)


def minimal_control(model: str = "haplo:person") -> dict[str, Any]:
    """A valid control file that creates one profile per record with a title."""
    return person_control(model)


def start_api(client: TestClient, model: bool = True) -> BatchApi:
    """A batch API client with a fresh key (and, with ``model``, haplo:person registered)."""
    key = client.post("/", json={"operation": "create_api_key", "name": "tests"}, headers=ADMIN_AUTH)
    assert key.status_code == 200, key.text
    api = BatchApi(client, key.json()["key"])
    if model:
        api.op({"operation": "add_import_model", "model": person_model()})
    return api


@pytest.fixture
def api(client: TestClient) -> BatchApi:
    """A batch API client with a fresh key and the haplo:person model registered."""
    return start_api(client)


WITH_S3 = (*BACKENDS, "postgres+s3")
"""The storage backends, and PostgreSQL with the uploaded files in S3 (the scale-out setup)."""


def backend_setups(*setups: str) -> Any:
    """A module-scoped ``backend`` fixture over ``setups`` (for a module to assign to ``backend``)."""

    @pytest.fixture(scope="module", params=setups, name="backend")
    def backend_fixture(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    return backend_fixture


backend = backend_setups(*BACKENDS)


@pytest.fixture
def small_limit_client(root: Path, backend: str) -> Iterator[TestClient]:
    """The app with a 64 KiB body limit and a 3-failure API key throttle."""
    with make_client(
        root,
        **store_overrides(backend, root),
        **{
            "http.max_body_size": 64 * 1024,
            "authentication.api_key_max_failures": 3,
        },
    ) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def module_root(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Path:
    """One root for a whole test module and backend (starting an app costs about a second)."""
    return tmp_path_factory.mktemp(f"batch-{backend}") / "root"


@pytest.fixture(scope="module")
def module_client(module_root: Path, backend: str) -> Iterator[TestClient]:
    """The real app shared by a module's tests; the API-key throttle is set out of reach."""
    overrides = {**store_overrides(backend, module_root), "authentication.api_key_max_failures": 100000}
    with make_client(module_root, **overrides) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def mapi(module_client: TestClient) -> BatchApi:
    """A batch API client on the module's app (haplo:person registered once)."""
    return start_api(module_client)


def snapshot(root: Path) -> list[str]:
    """Everything kept of uploads of the app on ``root``: files under its blob store (stored and
    temporary) and, for files in S3, the objects and unfinished multipart uploads under its prefix."""
    return files_snapshot(root)
