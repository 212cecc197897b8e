"""Operations of the push-data family (haplo-import.md §1.8): define, change, list and drop
REST push-data APIs. Super users only; the work is :class:`gateway.pushdata.PushApis`'s."""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation
from gateway.pushdata import DefinitionError, PushApis

_CHANGEABLE = ("description", "enabled", "response", "control", "control_digest")


def _apis(ctx: OperationContext) -> PushApis:
    return ctx.gateway.push_data.apis


def _description(body: dict[str, Any]) -> str:
    return fields.optional_string(body, "description") or ""


@operation("add_push_data_api", super_user=True, internal_name="addPushDataApi")
def add_push_data_api(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Define an API and make its key: the definition with ``key`` (never shown again)."""
    try:
        return _apis(ctx).add(
            body.get("url"),
            _description(body),
            body.get("control"),
            body.get("control_digest"),
            fields.boolean(body, "enabled", True),
            body.get("response"),
        )
    except DefinitionError as exc:
        raise OperationError(exc.message, exc.status) from exc


@operation("alter_push_data_api", super_user=True, internal_name="alterPushDataApi")
def alter_push_data_api(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Change an API's description, control file, enabled or response; ``new_key``: replace its key."""
    changes: dict[str, Any] = {name: body[name] for name in _CHANGEABLE if body.get(name) is not None}
    if "description" in changes:
        changes["description"] = _description(body)
    if "enabled" in changes:
        changes["enabled"] = fields.boolean(body, "enabled", True)
    new_key = fields.boolean(body, "new_key", False)
    if not changes and not new_key:
        raise OperationError(f"nothing to change: give any of {', '.join(_CHANGEABLE)} or new_key")
    try:
        return _apis(ctx).alter(body.get("url"), changes, new_key)
    except DefinitionError as exc:
        raise OperationError(exc.message, exc.status) from exc


@operation("drop_push_data_api", super_user=True, internal_name="dropPushDataApi")
def drop_push_data_api(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Delete an API and revoke its key."""
    try:
        dropped = _apis(ctx).drop(body.get("url"))
    except DefinitionError as exc:
        raise OperationError(exc.message, exc.status) from exc
    if not dropped:
        raise OperationError(f"API not defined: {body.get('url')}", 404)
    return {"message": f"Push data API '{body.get('url')}' successfully dropped"}


@operation("list_push_data_apis", super_user=True, internal_name="listPushDataApis")
def list_push_data_apis(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Every API definition (its key's id, never the key)."""
    return _apis(ctx).list()
