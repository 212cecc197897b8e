"""Helpers of the bulk tests: start a job and follow it with get_job (bounded)."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Ops


def run_job(op: Ops, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Start a job, check HarperDB's start answer, poll get_job until it ends; the job."""
    started = op(body)
    assert set(started) == {"message", "job_id"}
    assert started["message"] == f"Starting job with id {started['job_id']}"
    return wait_job(op, started["job_id"], timeout)


def wait_job(op: Ops, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = op({"operation": "get_job", "id": job_id})
        assert len(jobs) == 1
        if jobs[0]["status"] != "IN_PROGRESS":
            return dict(jobs[0])
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def all_records(op: Ops, database: str, table: str) -> list[dict[str, Any]]:
    return list(
        op(
            {
                "operation": "search_by_value",
                "database": database,
                "table": table,
                "search_attribute": "id",
                "search_value": "*",
                "get_attributes": ["*"],
            }
        )
    )
