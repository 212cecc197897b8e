"""The tables' transaction and audit logs through the real app: read_transaction_log, read_audit_log
with a table, the two deletions (jobs), on each backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.bulk.helpers import wait_job
from tests.conftest import ADMIN_AUTH, Ops, make_client
from tests.operations.conftest import make_user
from tests.support.postgres import store_overrides

DOG = {"database": "dev", "table": "dog"}


@pytest.fixture
def audited(root: Path, backend: str) -> Iterator[Ops]:
    """The app with ``logging.auditLog`` on, and dev.dog."""
    with make_client(root, **store_overrides(backend, root), **{"logging.auditLog": True}) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", **DOG, "primary_key": "id"})
        yield op


def test_every_write_is_logged_with_its_user(audited: Ops) -> None:
    op = audited
    before = time.time() * 1000
    op({"operation": "insert", **DOG, "records": [{"id": 318, "dog_name": "Polliwog"}, {"id": 444}]})
    op({"operation": "update", **DOG, "records": [{"id": 444, "fur_type": "coarse"}]})
    op({"operation": "sql", "sql": "DELETE FROM dev.dog WHERE id = 444"})
    writer = make_user(
        op,
        "writer",
        {"dev": {"tables": {"dog": {"read": True, "insert": True, "update": True, "delete": False}}}},
    )
    writer({"operation": "upsert", **DOG, "records": [{"id": 318, "fur_type": "fluffy"}]})
    job = op({"operation": "csv_data_load", **DOG, "data": "id,dog_name\n1,A\n2,B\n"})
    assert wait_job(op, job["job_id"])["status"] == "COMPLETE"

    log = op({"operation": "read_transaction_log", "schema": "dev", "table": "dog"})
    assert [(e["operation"], e["user"], e["hash_values"]) for e in log] == [
        ("insert", "admin", [318, 444]),
        ("update", "admin", [444]),
        ("delete", "admin", [444]),
        ("upsert", "writer", [318]),
        ("insert", "admin", [1, 2]),
    ]
    assert log[0]["records"] == [{"id": 318, "dog_name": "Polliwog"}, {"id": 444}]
    assert log[2]["source"] == "sql" and log[4]["source"] == "csv_data_load"
    assert "records" not in log[4]  # a bulk chunk logs its keys only
    assert all(before <= e["timestamp"] <= time.time() * 1000 for e in log)
    window = op(
        {"operation": "read_transaction_log", **DOG, "from": log[1]["timestamp"], "to": log[3]["timestamp"]}
    )
    assert [e["operation"] for e in window] == ["update", "delete", "upsert"]
    assert len(op({"operation": "read_transaction_log", **DOG, "limit": 2})) == 2

    by_key = op({"operation": "read_audit_log", **DOG, "search_type": "hash_value", "search_values": [444]})
    assert [e["operation"] for e in by_key["444"]] == ["insert", "update", "delete"]
    assert by_key["444"][0]["records"] == [{"id": 444}]  # narrowed to the record asked for
    assert by_key["444"][1]["original_records"][0]["id"] == 444
    assert "fur_type" not in by_key["444"][1]["original_records"][0]
    assert by_key["444"][2]["original_records"][0]["fur_type"] == "coarse"
    by_user = op(
        {"operation": "read_audit_log", **DOG, "search_type": "username", "search_values": ["writer"]}
    )
    assert [e["hash_values"] for e in by_user["writer"]] == [[318]]
    assert by_user["writer"][0]["user_name"] == "writer"
    stamps = [e["timestamp"] for e in log]
    timed = op(
        {"operation": "read_audit_log", **DOG, "search_type": "timestamp", "search_values": [stamps[3]]}
    )
    assert [e["operation"] for e in timed] == ["upsert", "insert"]

    # the gateway's own audit table is still read without a table
    own = op({"operation": "read_audit_log", "search_type": "type", "search_values": ["add_user"]})
    assert [e["data"].get("username") for e in own] == ["writer"]


def test_deleting_old_entries_is_a_job(audited: Ops) -> None:
    op = audited
    op({"operation": "insert", **DOG, "records": [{"id": 1}]})
    time.sleep(0.01)
    cut = time.time() * 1000
    op({"operation": "insert", **DOG, "records": [{"id": 2}]})
    started = op({"operation": "delete_transaction_logs_before", **DOG, "timestamp": cut})
    assert started["message"] == f"Starting job with id {started['job_id']}"
    done = wait_job(op, started["job_id"])
    assert done["status"] == "COMPLETE" and done["message"].startswith("deleted 1 log entries")
    assert [e["hash_values"] for e in op({"operation": "read_transaction_log", **DOG})] == [[2]]
    started = op({"operation": "delete_audit_logs_before", **DOG, "timestamp": time.time() * 1000 + 1})
    assert wait_job(op, started["job_id"])["status"] == "COMPLETE"
    assert op({"operation": "read_audit_log", **DOG}) == []


def test_refusals_name_the_problem(op: Ops) -> None:
    op({"operation": "create_table", **DOG, "primary_key": "id"})
    missing = op({"operation": "read_transaction_log", "database": "dev", "table": "cat"}, 404)
    assert "cat" in missing["error"]
    assert "from" in op({"operation": "read_transaction_log", **DOG, "from": "yesterday"}, 400)["error"]
    assert "limit" in op({"operation": "read_transaction_log", **DOG, "limit": -1}, 400)["error"]
    assert "auditLog" in op({"operation": "read_audit_log", **DOG}, 400)["error"]
    assert "auditLog" in op({"operation": "delete_audit_logs_before", **DOG, "timestamp": 1}, 400)["error"]
    assert "timestamp" in op({"operation": "delete_transaction_logs_before", **DOG}, 400)["error"]


def test_logging_can_be_turned_off(root: Path, backend: str) -> None:
    overrides = {**store_overrides(backend, root), "logging.transaction_log": False}
    client: TestClient
    with make_client(root, **overrides) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", **DOG, "primary_key": "id"})
        op({"operation": "insert", **DOG, "records": [{"id": 1}]})
        assert op({"operation": "read_transaction_log", **DOG}) == []
