"""Status values: set_status, get_status, clear_status (super users; in this process's memory)."""

from __future__ import annotations

from typing import Any

from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation
from gateway.status import DEFAULT_STATUS_ID, StatusValueError, check_status_id


def _status_id(body: dict[str, Any], default: str | None = DEFAULT_STATUS_ID) -> str:
    value = body.get("id")
    if value is None:
        if default is None:
            raise OperationError("'id' is required")
        return default
    try:
        return check_status_id(value)
    except StatusValueError as exc:
        raise OperationError(str(exc)) from exc


@operation("set_status", super_user=True)
def set_status(ctx: OperationContext, body: dict[str, Any]) -> dict[str, Any]:
    """Set a status value (``id`` defaults to ``primary``); the entry with its times."""
    status_id = _status_id(body)
    if body.get("status") is None:
        raise OperationError("'status' is required")
    try:
        return ctx.gateway.status.set(status_id, body["status"])
    except StatusValueError as exc:
        raise OperationError(str(exc)) from exc


@operation("get_status", super_user=True, inline=True)
def get_status(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """One status entry (404 when it is not set), or every entry set when no ``id`` is given."""
    if body.get("id") is None:
        return ctx.gateway.status.all()
    status_id = _status_id(body)
    entry = ctx.gateway.status.get(status_id)
    if entry is None:
        raise OperationError(f"status '{status_id}' is not set", 404)
    return entry


@operation("clear_status", super_user=True)
def clear_status(ctx: OperationContext, body: dict[str, Any]) -> dict[str, str]:
    """Remove a status entry (answered the same when it was not set)."""
    ctx.gateway.status.clear(_status_id(body, default=None))
    return {"message": "Status successfully cleared"}
