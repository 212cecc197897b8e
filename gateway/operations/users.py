"""Users and roles: list_roles, add_role, alter_role, drop_role, list_users, user_info,
add_user, alter_user, drop_user (HarperDB's answers; super_user only except user_info).

Every change clears the credential cache and is written to the audit log
(never with a password). The last active super user cannot be dropped,
deactivated or moved to a non-super role, so the server cannot lock itself out.
"""

from __future__ import annotations

import time
from typing import Any

from gateway import fields
from gateway.auth.users import User, UserDirectory
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation
from gateway.storage.records import CREATED, UPDATED

_ROLE_FLAGS = ("super_user", "cluster_user", "structure_user")
_TABLE_FLAGS = ("read", "insert", "update", "delete")


def role_answer(role: dict[str, Any]) -> dict[str, Any]:
    """A role record in HarperDB's key order."""
    return {
        "role": role.get("role"),
        "permission": role.get("permission"),
        "id": role.get("id"),
        UPDATED: role.get(UPDATED),
        CREATED: role.get(CREATED),
    }


def role_record(role: dict[str, Any]) -> dict[str, Any]:
    """A role as list_roles, list_users and user_info show it (HarperDB's key order there)."""
    return {
        "permission": role.get("permission"),
        "role": role.get("role"),
        "id": role.get("id"),
        UPDATED: role.get(UPDATED),
        CREATED: role.get(CREATED),
    }


def permission_errors(permission: Any) -> list[str]:
    """What is wrong with a role's ``permission`` object (empty when valid)."""
    if not isinstance(permission, dict):
        return ["'permission' must be an object"]
    errors = []
    for key, value in permission.items():
        if key in _ROLE_FLAGS:
            if not isinstance(value, bool) and not (key == "structure_user" and isinstance(value, list)):
                errors.append(f"'{key}' must be a boolean")
            continue
        tables = value.get("tables") if isinstance(value, dict) else None
        if not isinstance(tables, dict):
            errors.append(f"database '{key}' must be an object with a 'tables' object")
            continue
        for table, perms in tables.items():
            if not isinstance(perms, dict):
                errors.append(f"table '{key}.{table}' must be an object of permissions")
                continue
            for flag in _TABLE_FLAGS:
                if flag in perms and not isinstance(perms[flag], bool):
                    errors.append(f"'{flag}' of table '{key}.{table}' must be a boolean")
            extra = perms.get("attribute_permissions", [])
            if not isinstance(extra, list):
                errors.append(f"'attribute_permissions' of table '{key}.{table}' must be an array")
    return errors


def _permission(body: dict[str, Any]) -> dict[str, Any]:
    permission = fields.required(body, "permission")
    errors = permission_errors(permission)
    if errors:
        raise OperationError("Errors in the role permissions JSON provided", 400, main_permissions=errors)
    return dict(permission)


def _is_super_role(role: dict[str, Any] | None) -> bool:
    perm = role.get("permission") if role else None
    return isinstance(perm, dict) and perm.get("super_user") is True


def _active_super_users(users: UserDirectory, without: str | None = None) -> list[str]:
    """Usernames of active users whose role is super_user (leaving ``without`` out)."""
    super_roles = {r.get("id") for r in users.roles() if _is_super_role(r)}
    return [
        u["username"]
        for u in users.users()
        if u.get("username") != without and u.get("active", True) and u.get("role") in super_roles
    ]


def _audit(ctx: OperationContext, kind: str, data: dict[str, Any]) -> None:
    ctx.gateway.audit.record(kind, {**data, "by": ctx.user.username})


# -- roles ------------------------------------------------------------------


@operation("list_roles", super_user=True, internal_name="listRoles")
def list_roles(ctx: OperationContext, body: dict[str, Any]) -> Any:
    return [role_record(r) for r in ctx.gateway.auth.users.roles()]


@operation("add_role", super_user=True, internal_name="addRole")
def add_role(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Create a role (id = its name); 409 if the name is taken. Answers the role record."""
    name = fields.string(body, "role")
    role_id = fields.optional_string(body, "id") or name
    permission = _permission(body)
    users = ctx.gateway.auth.users
    if users.role_by_name(name) is not None or users.role(role_id) is not None:
        raise OperationError(f"A role with name '{name}' already exists", 409)
    role = users.add_role(name, permission, role_id=role_id)
    _audit(ctx, "add_role", {"role": name, "id": role_id})
    return role_answer(role)


@operation("alter_role", super_user=True, internal_name="alterRole")
def alter_role(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Change a role's name and/or permission; answers the updated role record."""
    role_id = fields.string(body, "id")
    changes: dict[str, Any] = {}
    if body.get("role") is not None:
        changes["role"] = fields.string(body, "role")
    if body.get("permission") is not None:
        changes["permission"] = _permission(body)
    users = ctx.gateway.auth.users
    current = users.role(role_id)
    if current is None:
        raise OperationError(f"{role_id} role not found", 404)
    if "role" in changes:
        other = users.role_by_name(changes["role"])
        if other is not None and other.get("id") != role_id:
            raise OperationError(f"A role with name '{changes['role']}' already exists", 409)
    if (
        _is_super_role(current)
        and "permission" in changes
        and changes["permission"].get("super_user") is not True
        and not _active_super_users_outside_role(users, role_id)
    ):
        raise OperationError("cannot take super_user away from the role of the last active super user")
    role = users.update_role(role_id, changes)
    if role is None:
        raise OperationError(f"{role_id} role not found", 404)
    _audit(ctx, "alter_role", {"id": role_id, "changed": sorted(changes)})
    return role_answer(role)


def _active_super_users_outside_role(users: UserDirectory, role_id: str) -> list[str]:
    super_roles = {r.get("id") for r in users.roles() if _is_super_role(r) and r.get("id") != role_id}
    return [u["username"] for u in users.users() if u.get("active", True) and u.get("role") in super_roles]


@operation("drop_role", super_user=True, internal_name="dropRole")
def drop_role(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Delete a role that no user has; 404 if unknown, 409 while users are assigned to it."""
    role_id = fields.string(body, "id")
    users = ctx.gateway.auth.users
    role = users.role(role_id)
    if role is None:
        raise OperationError(f"{role_id} role not found", 404)
    assigned = [u["username"] for u in users.users() if u.get("role") == role_id]
    if assigned:
        raise OperationError(
            f"Cannot drop role '{role.get('role')}': it is assigned to users {', '.join(assigned)}", 409
        )
    users.delete_role(role_id)
    _audit(ctx, "drop_role", {"id": role_id, "role": role.get("role")})
    return {"message": f"{role.get('role', role_id)} successfully deleted"}


# -- users --------------------------------------------------------------------


def _role_for(users: UserDirectory, name: str) -> dict[str, Any]:
    role = users.role(name) or users.role_by_name(name)
    if role is None:
        raise OperationError(f"{name} role not found", 404)
    return role


def _username(body: dict[str, Any]) -> str:
    username = fields.string(body, "username")
    if ":" in username:
        raise OperationError("'username' cannot contain ':'")
    return username


@operation("list_users", super_user=True, internal_name="listUsersExternal")
def list_users(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Every user with its full role record; never the password hash."""
    users = ctx.gateway.auth.users
    roles = {r.get("id"): r for r in users.roles()}
    out = []
    for u in users.users():
        role = roles.get(u.get("role"))
        out.append(
            {
                "username": u.get("username"),
                "active": u.get("active", True),
                "role": role_record(role) if role else None,
                UPDATED: u.get(UPDATED),
                CREATED: u.get(CREATED),
            }
        )
    return out


@operation("user_info", inline=True)
def user_info(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """The calling user: ``{active, username, role}``."""
    user: User = ctx.user
    role = role_record(user.role) if user.role else {}
    return {"active": user.active, "username": user.username, "role": role}


@operation("add_user", super_user=True, internal_name="addUser")
def add_user(ctx: OperationContext, body: dict[str, Any]) -> Any:
    username = _username(body)
    password = fields.string(body, "password")
    role_name = fields.string(body, "role")
    active = fields.boolean(body, "active", True)
    users = ctx.gateway.auth.users
    role = _role_for(users, role_name)
    if users.user_record(username) is not None:
        raise OperationError(f"User {username} already exists", 409)
    users.add_user(username, password, str(role["id"]), active)
    _audit(ctx, "add_user", {"username": username, "role": role["id"], "active": active})
    return {"message": f"{username} successfully added"}


@operation("alter_user", super_user=True, internal_name="alterUser")
def alter_user(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Change password, role or active; an unknown user is skipped (200, as HarperDB)."""
    username = _username(body)
    changes: dict[str, Any] = {}
    if body.get("password") is not None:
        changes["password"] = fields.string(body, "password")
    if body.get("active") is not None:
        changes["active"] = fields.boolean(body, "active", True)
    users = ctx.gateway.auth.users
    if body.get("role") is not None:
        role = _role_for(users, fields.string(body, "role"))
        changes["role"] = role["id"]
    record = users.user_record(username)
    if record is not None and username in _active_super_users(users):
        demoted = "role" in changes and not _is_super_role(users.role(changes["role"]))
        if (changes.get("active") is False or demoted) and not _active_super_users(users, without=username):
            raise OperationError("cannot deactivate or demote the last active super user")
    txn_time = time.time() * 1000.0
    updated = record is not None and users.update_user(username, changes)
    if updated:
        shown = {k: v for k, v in changes.items() if k != "password"}
        _audit(ctx, "alter_user", {"username": username, **shown, "password_changed": "password" in changes})
    return {
        "message": f"updated {1 if updated else 0} of 1 records",
        "txn_time": txn_time,
        "update_hashes": [username] if updated else [],
        "skipped_hashes": [] if updated else [username],
    }


@operation("drop_user", super_user=True, internal_name="dropUser")
def drop_user(ctx: OperationContext, body: dict[str, Any]) -> Any:
    username = _username(body)
    users = ctx.gateway.auth.users
    if users.user_record(username) is None:
        raise OperationError(f"User {username} does not exist", 404)
    actives = _active_super_users(users)
    if actives == [username]:
        raise OperationError("cannot drop the last active super user")
    users.delete_user(username)
    _audit(ctx, "drop_user", {"username": username})
    return {"message": f"{username} successfully deleted"}
