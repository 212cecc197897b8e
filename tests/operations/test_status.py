"""Status values (set_status/get_status/clear_status), /ready's availability, licensing refusals
and HarperDB's older operation names."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from tests.bulk.helpers import all_records, run_job
from tests.conftest import Ops, basic


def test_status_values_are_set_read_and_cleared(op: Ops) -> None:
    assert op({"operation": "get_status"}) == []
    before = time.time() * 1000
    primary = op({"operation": "set_status", "status": "active"})  # id defaults to primary
    assert (primary["id"], primary["status"]) == ("primary", "active")
    assert before - 1 <= primary["__createdtime__"] == primary["__updatedtime__"] <= time.time() * 1000 + 1
    time.sleep(0.005)
    again = op({"operation": "set_status", "id": "primary", "status": "draining"})
    assert again["__createdtime__"] == primary["__createdtime__"] < again["__updatedtime__"]
    op({"operation": "set_status", "id": "maintenance", "status": "scheduled for 02:00"})
    assert op({"operation": "get_status", "id": "primary"}) == again
    assert [(s["id"], s["status"]) for s in op({"operation": "get_status"})] == [
        ("primary", "draining"),
        ("maintenance", "scheduled for 02:00"),
    ]
    assert op({"operation": "clear_status", "id": "primary"}) == {"message": "Status successfully cleared"}
    assert op({"operation": "clear_status", "id": "primary"}) == {"message": "Status successfully cleared"}
    assert op({"operation": "get_status", "id": "primary"}, 404) == {"error": "status 'primary' is not set"}
    assert [s["id"] for s in op({"operation": "get_status"})] == ["maintenance"]


def test_status_values_the_rules_refuse(op: Ops) -> None:
    refused = {
        "'id' must be one of primary, maintenance, availability": [
            {"operation": "set_status", "id": "mood", "status": "fine"},
            {"operation": "get_status", "id": 3},
            {"operation": "clear_status", "id": "mood"},
        ],
        "'id' is required": [{"operation": "clear_status"}],
        "'status' is required": [{"operation": "set_status", "id": "maintenance"}],
        "'status' must be a string of 1 to 512 characters": [
            {"operation": "set_status", "status": ""},
            {"operation": "set_status", "status": "x" * 513},
            {"operation": "set_status", "status": 5},
        ],
        "the status of 'availability' must be Available or Unavailable": [
            {"operation": "set_status", "id": "availability", "status": "down"},
        ],
    }
    for message, bodies in refused.items():
        for body in bodies:
            assert op(body, 400) == {"error": message}, body
    assert op({"operation": "get_status"}) == []  # nothing was set by a refused request
    assert op({"operation": "set_status", "status": "x" * 512})["status"] == "x" * 512


def test_unavailable_takes_the_process_out_of_rotation(op: Ops, client: TestClient) -> None:
    assert client.get("/ready").status_code == 200
    op({"operation": "set_status", "id": "availability", "status": "Unavailable"})
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["problems"] == [
        "availability: set to Unavailable by set_status (clear_status or set it Available)"
    ]
    assert client.get("/health").status_code == 200  # the process still answers
    op({"operation": "set_status", "id": "availability", "status": "Available"})
    assert client.get("/ready").status_code == 200
    op({"operation": "set_status", "id": "availability", "status": "Unavailable"})
    op({"operation": "clear_status", "id": "availability"})
    assert client.get("/ready").json() == {"ready": True}


def test_status_operations_are_for_super_users(op: Ops, client: TestClient) -> None:
    op({"operation": "add_role", "role": "reader", "permission": {"super_user": False}})
    op({"operation": "add_user", "username": "ann", "password": "pw-ann-1", "role": "reader"})
    ann = Ops(client, basic("ann", "pw-ann-1"))
    for body in (
        {"operation": "set_status", "id": "availability", "status": "Unavailable"},
        {"operation": "get_status"},
        {"operation": "clear_status", "id": "primary"},
    ):
        assert ann(body, 403)["error"].startswith("This operation is not authorized"), body
    assert client.get("/ready").status_code == 200


def test_licensing_operations_are_not_supported(op: Ops) -> None:
    for name in ("install_usage_license", "get_usage_licenses", "get_fingerprint", "set_license"):
        assert op({"operation": name}, 400) == {
            "error": f"Operation '{name}' is not supported by this server"
        }
    assert op({"operation": "no_such_thing"}, 400) == {"error": "Operation 'no_such_thing' not found"}


def test_delete_files_before_is_the_older_name_of_delete_records_before(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "olddata", "primary_key": "id"})
    op(
        {
            "operation": "insert",
            "database": "dev",
            "table": "olddata",
            "records": [{"id": i} for i in range(3)],
        }
    )
    time.sleep(0.01)
    cutoff = time.time()
    cutoff_iso = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cutoff)) + f".{int(cutoff * 1000 % 1000):03d}Z"
    )
    time.sleep(0.01)
    op({"operation": "insert", "database": "dev", "table": "olddata", "records": [{"id": 10}]})
    job = run_job(
        op, {"operation": "delete_files_before", "date": cutoff_iso, "schema": "dev", "table": "olddata"}
    )
    assert (job["status"], job["message"]) == ("COMPLETE", "3 of 3 records successfully deleted")
    assert [r["id"] for r in all_records(op, "dev", "olddata")] == [10]
