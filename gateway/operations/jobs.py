"""Job operations: get_job and search_jobs_by_start_date (HarperDB's job records plus ``progress``).

A role that is not super_user sees only the jobs it started.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import OperationError
from gateway.jobs.table import dated_job, public_job
from gateway.operations.registry import OperationContext, operation
from gateway.timestamps import parse_iso_ms


def _visible(ctx: OperationContext, record: dict[str, Any]) -> bool:
    return ctx.user.is_super_user or record.get("user") == ctx.user.username


@operation("get_job", inline=True)
def get_job(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """``[job]`` for a known id, ``[]`` otherwise."""
    if body.get("id") is None:
        raise OperationError("'id' is required")
    record = ctx.gateway.jobs.service.table.get(body["id"])
    if record is None or not _visible(ctx, record):
        return []
    return [public_job(record)]


@operation("search_jobs_by_start_date")
def search_jobs_by_start_date(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Jobs that started strictly between ``from_date`` and ``to_date`` (ISO 8601), oldest first."""
    low = parse_iso_ms(body.get("from_date"))
    if low is None:
        raise OperationError("Invalid 'from' date, must be in ISO-8601 format (YYYY-MM-DD).")
    high = parse_iso_ms(body.get("to_date"))
    if high is None:
        raise OperationError("Invalid 'to' date, must be in ISO-8601 format (YYYY-MM-DD)")
    records = ctx.gateway.jobs.service.table.started_between(low, high)
    return [dated_job(r) for r in records if _visible(ctx, r)]
