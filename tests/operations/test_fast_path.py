"""``POST /``'s fast path (``http.fast_path``): cheap, bounded operations (registered ``inline``) are
answered on the event loop where the backend's reads are local, with the same bytes as through a
worker thread; unbounded calls, slow password checks and other backends still use a worker thread;
authentication, permissions and metrics apply the same."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.config import ConfigError, load_config
from gateway.http.server import fast_path, uvicorn_options
from gateway.operations.registry import INLINE_MAX_IDS
from tests.conftest import ADMIN_AUTH, Ops, basic, make_client
from tests.operations.conftest import DOGS, make_user

READER = basic("reader", "pw")
NOBODY = basic("nobody", "pw")
BAD_PASSWORD = basic("reader", "wrong")
ON_ROCKSDB = {"storage.backend": "rocksdb"}
"""Pins an app to the embedded store, where the fast path answers on the event loop."""


def _search(ids: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "operation": "search_by_id",
        "database": "dev",
        "table": "dog",
        "ids": ids,
        "get_attributes": ["*"],
        **extra,
    }


CALLS: list[tuple[dict[str, str] | None, dict[str, Any]]] = [
    (ADMIN_AUTH, _search([1])),
    (ADMIN_AUTH, _search([1, "5", 3, 404])),
    (ADMIN_AUTH, {**_search([2]), "operation": "search_by_hash", "hash_values": [2]}),
    (
        ADMIN_AUTH,
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "dog",
            "ids": [1],
            "get_attributes": ["dog_name"],
        },
    ),
    (ADMIN_AUTH, _search([1], table="cat")),  # 404
    (ADMIN_AUTH, _search("1")),  # 400: ids not an array
    (ADMIN_AUTH, {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1]}),  # 400
    (READER, _search([3])),
    (READER, _search([3], table="breed")),  # 403: no read permission on dev.breed
    (NOBODY, _search([3])),  # 403
    (BAD_PASSWORD, _search([3])),  # 401
    (None, _search([3])),  # 401
    ({"Authorization": "Bearer not-a-token"}, _search([3])),  # 401
    (ADMIN_AUTH, {"operation": "user_info"}),
    (READER, {"operation": "user_info"}),
    (ADMIN_AUTH, {"operation": "get_job", "id": "no-such-job"}),
    (ADMIN_AUTH, {"operation": "get_job"}),  # 400
    (ADMIN_AUTH, {"operation": "get_status"}),
    (ADMIN_AUTH, {"operation": "get_status", "id": "nope"}),  # 404
    (READER, {"operation": "get_status"}),  # 403
    (ADMIN_AUTH, {"operation": "no_such_operation"}),
    (ADMIN_AUTH, {"operation": "describe_table", "database": "dev", "table": "dog"}),
]


def _load(root: Path) -> None:
    """dev.dog with the sample dogs, dev.breed, a reader of dev.dog and a user who may read nothing, in the
    embedded store (whatever ``GATEWAY_TEST_BACKEND`` says: the fast path answers from local reads only,
    and ``gateway serve`` subprocesses on ``root`` open that store)."""
    with make_client(root, **ON_ROCKSDB, **{"http.fast_path": False}) as client:
        admin = Ops(client, ADMIN_AUTH)
        admin({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        admin({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
        admin({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
        read_dog = {
            "dev": {"tables": {"dog": {"read": True, "insert": False, "update": False, "delete": False}}}
        }
        make_user(admin, "reader", {"super_user": False, **read_dog})
        make_user(admin, "nobody", {"super_user": False})


def _answers(root: Path, fast: bool) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    with make_client(root, **ON_ROCKSDB, **{"http.fast_path": fast}) as client:
        out = []
        for headers, body in CALLS:
            response = client.post("/", json=body, headers=headers or {})
            out.append((response.status_code, sorted(response.headers.items()), response.content))
        return out


def test_fast_path_answers_the_same_bytes_as_the_worker_thread_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _load(root)
    threaded = _answers(root, fast=False)
    fast = _answers(root, fast=True)
    statuses = [status for status, _, _ in threaded]
    assert {200, 400, 401, 403, 404} <= set(statuses), statuses
    for call, before, after in zip(CALLS, threaded, fast, strict=True):
        assert after == before, call


class _WhereReadsRun:
    """Wraps the store's ``get_many`` (the real one still answers) and notes whether each call ran on
    the event loop's thread."""

    def __init__(self, client: TestClient) -> None:
        records = client.app.state.gateway.storage.records  # type: ignore[attr-defined]
        self.real: Callable[..., Any] = records.get_many
        self.on_loop: list[bool] = []
        records.get_many = self

    def __call__(self, *args: Any) -> Any:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        return self.real(*args)


def test_only_bounded_calls_run_on_the_event_loop(client: TestClient, backend: str) -> None:
    op = Ops(client, ADMIN_AUTH)
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
    reads = _WhereReadsRun(client)
    assert op(_search([1]))[0]["dog_name"] == "Penny"
    few = list(range(INLINE_MAX_IDS))
    assert len(op(_search(few))) == 5  # 1, 2, 3, 4, 6 ("5" is a string)
    many = list(range(10_000))
    assert len(op(_search(many))) == 5
    names = ["dog_name"] * (INLINE_MAX_IDS + 1)
    assert op(_search([1], get_attributes=names)) == [{"dog_name": "Penny"}]
    local = backend == "rocksdb"  # PostgreSQL's reads are network round trips: never on the loop
    assert reads.on_loop == [local, local, False, False]


def test_fast_path_off_runs_every_operation_in_a_worker_thread(tmp_path: Path) -> None:
    with make_client(tmp_path / "root", **{"http.fast_path": False}) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        reads = _WhereReadsRun(client)
        assert op(_search([1])) == []
        assert reads.on_loop == [False]


def test_a_password_not_yet_checked_is_checked_off_the_loop_then_cached(tmp_path: Path) -> None:
    """The slow password hash never runs on the loop: the first call of new credentials goes to a worker
    thread, later ones (cached) stay on the loop; a wrong password is refused and counted by the throttle."""
    root = tmp_path / "root"
    _load(root)
    with make_client(root, **ON_ROCKSDB) as client:
        checks: list[str] = []
        directory = client.app.state.gateway.auth.users  # type: ignore[attr-defined]
        real_authenticate = directory.authenticate

        def authenticate(username: str, password: str, **kwargs: Any) -> Any:
            checks.append(threading.current_thread().name)
            return real_authenticate(username, password, **kwargs)

        directory.authenticate = authenticate
        reader = Ops(client, READER)
        assert reader(_search([3]))[0]["dog_name"] == "Kato"
        assert reader(_search([3]))[0]["dog_name"] == "Kato"
        loop_thread = checks[0]
        assert checks[1] != loop_thread  # not cached yet: checked again in a worker thread
        assert checks[2:] == [loop_thread]  # cached: answered on the loop
        wrong = Ops(client, BAD_PASSWORD)
        for _ in range(5):
            assert wrong(_search([3]), 401) == {"error": "Login failed"}
        assert reader.raw(_search([3])).status_code == 429


def test_metrics_count_inline_answers(client: TestClient) -> None:
    op = Ops(client, ADMIN_AUTH)
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    metrics = client.app.state.gateway.metrics.recorder  # type: ignore[attr-defined]
    before = metrics.snapshot().operations.get("search_by_id")
    for _ in range(3):
        op(_search([1]))
    op(_search([1], table="cat"), 404)
    after = metrics.snapshot().operations["search_by_id"]
    assert after.count - (before.count if before else 0) == 4
    assert after.errors - (before.errors if before else 0) == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("http.fast_path", "yes", "http.fast_path must be true or false"),
        ("http.loop", "tokio", "http.loop must be one of"),
    ],
)
def test_server_settings_are_checked(tmp_path: Path, key: str, value: str, message: str) -> None:
    config = load_config(root=tmp_path, environ={}, overrides={key: value})
    with pytest.raises(ConfigError, match=message):
        fast_path(config) if key == "http.fast_path" else uvicorn_options(config)
