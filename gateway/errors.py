"""The gateway's own error type for answers to clients.

Handlers raise ``OperationError(message, status)``; the HTTP layer turns it into
``{"error": message, **extra}`` with that status (and the error's ``headers``, e.g.
``Retry-After``). Foreign exceptions are
translated into it (or into ``gateway.storage.errors``) once, at the adapter.
"""

from __future__ import annotations

from typing import Any

UNAUTHORIZED_MESSAGE = (
    "This operation is not authorized due to role restrictions and/or invalid database items"
)


class OperationError(Exception):
    """A client-facing error with an HTTP status and a JSON body."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def forbidden(
    unauthorized_access: list[Any], invalid_schema_items: list[str] | None = None
) -> OperationError:
    """HarperDB's 403 body for role restrictions."""
    return OperationError(
        UNAUTHORIZED_MESSAGE,
        403,
        unauthorized_access=unauthorized_access,
        invalid_schema_items=invalid_schema_items or [],
    )
