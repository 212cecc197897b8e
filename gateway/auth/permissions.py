"""Per-role authorisation of operations (HarperDB's role permission objects).

A role's ``permission`` is ``{"super_user": bool, "<database>": {"tables":
{"<table>": {"read": bool, "insert": bool, "update": bool, "delete": bool,
"attribute_permissions": [...]}}}}``.
"""

from __future__ import annotations

from typing import Any

from gateway.auth.users import User
from gateway.errors import OperationError, forbidden


def require_super_user(user: User, internal_name: str) -> None:
    """403 unless the user's role is super_user."""
    if not user.is_super_user:
        raise forbidden([f"Operation '{internal_name}' is restricted to 'super_user' roles"])


def require_table_permission(user: User, database: str, table: str, permission: str) -> None:
    """403 unless the role grants ``permission`` on ``database.table``."""
    if user.is_super_user:
        return
    db_perm = user.permission.get(database)
    tables = db_perm.get("tables") if isinstance(db_perm, dict) else None
    table_perm: Any = tables.get(table) if isinstance(tables, dict) else None
    if not isinstance(table_perm, dict):
        raise forbidden([], [f"Table '{database}.{table}' does not exist"])
    if not table_perm.get(permission):
        raise forbidden(
            [
                {
                    "schema": database,
                    "table": table,
                    "required_table_permissions": [permission],
                    "required_attribute_permissions": [],
                }
            ]
        )


def can_read_database(user: User, database: str) -> bool:
    """Whether any table of ``database`` is readable (for describe_* filtering)."""
    if user.is_super_user:
        return True
    db_perm = user.permission.get(database)
    return isinstance(db_perm, dict) and isinstance(db_perm.get("tables"), dict)


def ensure_object(body: Any) -> dict[str, Any]:
    """The request body as an object or a 400."""
    if not isinstance(body, dict):
        raise OperationError("Request body must include an 'operation' property.")
    return body


TABLE_PERMISSIONS = ("read", "insert", "update", "delete")


def table_permissions(user: User, database: str, table: str) -> dict[str, Any] | None:
    """The role's permission object for ``database.table`` (all granted for super users), or None."""
    if user.is_super_user:
        return {name: True for name in TABLE_PERMISSIONS}
    db_perm = user.permission.get(database)
    tables = db_perm.get("tables") if isinstance(db_perm, dict) else None
    table_perm = tables.get(table) if isinstance(tables, dict) else None
    return table_perm if isinstance(table_perm, dict) else None


def can_see_table(user: User, database: str, table: str) -> bool:
    """Whether the role grants any of read/insert/update/delete on the table (describe_* filtering)."""
    perm = table_permissions(user, database, table)
    return perm is not None and any(perm.get(name) is True for name in TABLE_PERMISSIONS)


def require_table_permissions(user: User, database: str, table: str, needed: tuple[str, ...]) -> None:
    """403 unless the role grants every permission in ``needed`` (listing all missing ones)."""
    if user.is_super_user:
        return
    perm = table_permissions(user, database, table)
    if perm is None:
        raise forbidden([], [f"Table '{database}.{table}' does not exist"])
    missing = [name for name in needed if perm.get(name) is not True]
    if missing:
        raise forbidden(
            [
                {
                    "schema": database,
                    "table": table,
                    "required_table_permissions": missing,
                    "required_attribute_permissions": [],
                }
            ]
        )
