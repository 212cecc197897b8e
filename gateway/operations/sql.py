"""The ``sql`` operation: one SELECT, INSERT, UPDATE or DELETE on one table (sqlglot).

Answers have HarperDB's shapes (SELECT: an array of rows; writes: the NoSQL
insert/update/delete answers). A syntax error is HarperDB's 400 ``Invalid SQL
at: …``; an unsupported clause is a 400 naming it; a missing table is 404.
"""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.auth.permissions import require_table_permission
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation
from gateway.query import sqlexec
from gateway.query.sqlplan import DeletePlan, InsertPlan, SelectPlan, SqlError, parse


@operation("sql")
def sql(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Run one SQL statement."""
    text = body.get("sql")
    if text is None:
        raise OperationError("'sql' is required")
    try:
        plan = parse(text)
    except SqlError as exc:
        raise OperationError(str(exc)) from exc
    ref = plan.table
    fields.check_name(ref.database, "database")
    fields.check_name(ref.table, "table")
    fields.refuse_system(ref.database)
    if isinstance(plan, SelectPlan):
        permission = "read"
    elif isinstance(plan, InsertPlan):
        permission = "insert"
    elif isinstance(plan, DeletePlan):
        permission = "delete"
    else:
        permission = "update"
    require_table_permission(ctx.user, ref.database, ref.table, permission)
    fields.existing_table(ctx.gateway.storage.catalog, ref.database, ref.table, 404)
    try:
        return sqlexec.execute(ctx.gateway.storage, plan)
    except SqlError as exc:
        raise OperationError(str(exc)) from exc
