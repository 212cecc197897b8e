"""Jobs: get_job, search_jobs_by_start_date, recovery after a stop, ownership, delete_records_before."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gateway.jobs.table import JOB_TABLE
from gateway.storage.system import SYSTEM_DB
from tests.bulk.helpers import all_records, run_job
from tests.conftest import ADMIN_AUTH, Ops, basic, make_client

FORBIDDEN = "This operation is not authorized due to role restrictions and/or invalid database items"


def forbidden(permission: str) -> dict[str, Any]:
    """The 403 body for a role without the table ``permission`` on dev.dog (HarperDB's shape)."""
    return {
        "error": FORBIDDEN,
        "unauthorized_access": [
            {
                "schema": "dev",
                "table": "dog",
                "required_table_permissions": [permission],
                "required_attribute_permissions": [],
            }
        ],
        "invalid_schema_items": [],
    }


def _load(op: Ops, data: str = "id\n1\n") -> dict[str, Any]:
    return run_job(op, {"operation": "csv_data_load", "database": "dev", "table": "dog", "data": data})


def test_get_job_unknown_and_missing_id(op: Ops) -> None:
    assert op({"operation": "get_job", "id": "00000000-0000-0000-0000-000000000000"}) == []
    assert op({"operation": "get_job"}, 400) == {"error": "'id' is required"}


def test_get_job_fields(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    job = _load(op)
    assert list(job) == [
        "id",
        "status",
        "message",
        "end_datetime",
        "type",
        "start_datetime",
        "created_datetime",
        "user",
        "job_body",
        "progress",
    ]
    assert all(isinstance(job[k], int) for k in ("created_datetime", "start_datetime", "end_datetime"))
    assert job["job_body"] == {
        "operation": "csv_data_load",
        "database": "dev",
        "table": "dog",
        "data_length": 5,
    }
    assert job["progress"] == {"records_done": 1, "bytes_read": 5, "bytes_total": 5, "percent": 100.0}


def test_search_jobs_by_start_date(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    before = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(time.time() - 60))
    first, second = _load(op), _load(op, "id\n2\n")
    after = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 60))
    found = op({"operation": "search_jobs_by_start_date", "from_date": before, "to_date": after})
    assert [j["id"] for j in found] == [first["id"], second["id"]]
    converted = found[0]["start_datetime_converted"]
    assert converted.endswith("Z") and len(converted) == len("2026-11-23T00:22:51.026Z")
    assert list(found[0])[-2:] == ["start_datetime_converted", "end_datetime_converted"]
    assert op({"operation": "search_jobs_by_start_date", "from_date": after, "to_date": after}) == []
    assert op({"operation": "search_jobs_by_start_date", "from_date": "soon", "to_date": after}, 400) == {
        "error": "Invalid 'from' date, must be in ISO-8601 format (YYYY-MM-DD)."
    }


def test_jobs_left_in_progress_become_error_on_startup(root: Path) -> None:
    with make_client(root) as client:
        store = client.app.state.gateway.storage
        store.records.write(
            SYSTEM_DB,
            JOB_TABLE,
            [
                {
                    "id": "stale",
                    "type": "csv_file_load",
                    "status": "IN_PROGRESS",
                    "user": "admin",
                    "created_datetime": 1,
                }
            ],
            "upsert",
        )
    with make_client(root) as client:
        [job] = Ops(client, ADMIN_AUTH)({"operation": "get_job", "id": "stale"})
    assert (job["status"], job["message"]) == ("ERROR", "the server stopped before the job finished")
    assert isinstance(job["end_datetime"], int)


def test_a_role_sees_only_its_own_jobs(op: Ops, client: Any) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op(
        {
            "operation": "add_role",
            "role": "loader",
            "permission": {
                "dev": {"tables": {"dog": {"read": True, "insert": True, "update": False, "delete": False}}}
            },
        }
    )
    op({"operation": "add_user", "role": "loader", "username": "ld", "password": "pw-ld-123", "active": True})
    mine = _load(op)
    theirs_op = Ops(client, basic("ld", "pw-ld-123"))
    theirs = _load(theirs_op, "id\n9\n")
    assert theirs["status"] == "COMPLETE" and theirs["user"] == "ld"
    assert theirs_op({"operation": "get_job", "id": mine["id"]}) == []
    assert op({"operation": "get_job", "id": theirs["id"]})[0]["user"] == "ld"
    refused = theirs_op(
        {
            "operation": "csv_data_load",
            "action": "update",
            "database": "dev",
            "table": "dog",
            "data": "id\n1\n",
        },
        403,
    )
    assert refused == forbidden("update")
    assert theirs_op(
        {"operation": "delete_records_before", "date": "2020-01-01", "schema": "dev", "table": "dog"}, 403
    ) == {
        "error": FORBIDDEN,
        "unauthorized_access": ["Operation 'deleteRecordsBefore' is restricted to 'super_user' roles"],
        "invalid_schema_items": [],
    }


def test_delete_records_before_uses_createdtime(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "olddata", "primary_key": "id"})
    op(
        {
            "operation": "insert",
            "database": "dev",
            "table": "olddata",
            "records": [{"id": i} for i in range(5)],
        }
    )
    time.sleep(0.01)
    cutoff = time.time() * 1000
    cutoff_iso = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cutoff / 1000)) + f".{int(cutoff % 1000):03d}Z"
    )
    time.sleep(0.01)
    op({"operation": "insert", "database": "dev", "table": "olddata", "records": [{"id": 10}]})
    body = {"operation": "delete_records_before", "date": cutoff_iso, "schema": "dev", "table": "olddata"}
    job = run_job(op, body)
    assert (job["status"], job["message"], job["type"]) == (
        "COMPLETE",
        "5 of 5 records successfully deleted",
        "delete_records_before",
    )
    assert [r["id"] for r in all_records(op, "dev", "olddata")] == [10]


def test_delete_records_before_request_errors(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "olddata", "primary_key": "id"})
    base = {"operation": "delete_records_before", "schema": "dev", "table": "olddata"}
    assert op(base, 400) == {"error": "'date' is required"}
    assert op({**base, "date": "last week"}, 400) == {"error": "'date' must be in ISO 8601 date format"}
    assert op({**base, "date": "2020-01-01", "table": "nope"}, 400) == {
        "error": "Table 'dev.nope' does not exist"
    }
    op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "typed",
            "attributes": [{"name": "id", "isPrimaryKey": True}],
        }
    )
    error = op({**base, "date": "2020-01-01", "table": "typed"}, 400)["error"]
    assert (
        error == "Table 'dev.typed' does not record __createdtime__ (it was created with an attributes list)"
    )
