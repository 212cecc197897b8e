"""The seed-replay check: every request body of HarperDB's operations reference, sent to the real app.

``harperdb_reference.json`` holds the bodies (with the documentation commit they come from). Each one
must be answered 2xx, or refused with a 4xx ``{"error": …}`` that names the problem; an operation this
server does not provide answers exactly ``Operation '<name>' is not supported by this server``. No
documented name may answer ``… not found`` and nothing may answer 5xx. Queued work is not run (the app
does not work its queue), so bodies naming remote files or buckets only start their job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import load_config
from gateway.operations.registry import HARPERDB_OPERATIONS, OPERATIONS
from tests.conftest import ADMIN_AUTH, Ops, default_backend
from tests.support.postgres import store_overrides
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

REFERENCE = Path(__file__).with_name("harperdb_reference.json")


def _reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text("utf-8"))
    return data


@pytest.fixture
def op(root: Path) -> Iterator[Ops]:
    """The app (embedded store) with dev.dog and dev.breed, as the reference's examples expect."""
    overrides = {**store_overrides(default_backend(), root), "logging.auditLog": True}
    app = create_app(
        load_config(root=root, environ={}, overrides=overrides),
        admin_username=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
        work=False,
    )
    with TestClient(app) as client:
        ops = Ops(client, ADMIN_AUTH)
        ops({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        ops({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
        ops(
            {
                "operation": "insert",
                "database": "dev",
                "table": "dog",
                "records": [{"id": 1, "dog_name": "Penny"}],
            }
        )
        yield ops


def test_the_reference_names_every_operation_the_server_knows_of() -> None:
    """Every documented name is an operation of this server or one it refuses as not supported."""
    unknown = [
        name
        for name in _reference()["operations"]
        if name not in OPERATIONS and name not in HARPERDB_OPERATIONS
    ]
    assert unknown == []


def test_every_reference_body_is_answered_or_clearly_refused(op: Ops) -> None:
    data = _reference()
    assert len(data["bodies"]) > 100 and data["commit"]
    problems: list[str] = []
    answered = refused = unsupported = 0
    for item in data["bodies"]:
        body = item["body"]
        name = body["operation"]
        response = op.raw(body)
        shown = f"{item['source']}: {json.dumps(body)[:160]} -> {response.status_code} {response.text[:200]}"
        if response.status_code < 300:
            answered += 1
            continue
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if response.status_code >= 500 or not isinstance(error, str) or not error:
            problems.append(f"not a clear refusal: {shown}")
        elif "not found" in error and error.startswith("Operation"):
            problems.append(f"a documented operation is 'not found': {shown}")
        elif name not in OPERATIONS:
            if (response.status_code, error) != (400, f"Operation '{name}' is not supported by this server"):
                problems.append(f"an unsupported operation answers differently: {shown}")
            unsupported += 1
        else:
            refused += 1
    assert problems == []
    assert answered + refused + unsupported == len(data["bodies"]) and answered >= 30
    assert unsupported == sum(1 for b in data["bodies"] if b["body"]["operation"] not in OPERATIONS)
