"""JWT tokens: create_authentication_tokens (no prior auth) and refresh_operation_token.

A refresh token is accepted only by refresh_operation_token: as ``Bearer`` or,
with Basic (or Bearer operation-token) auth, in the body's ``refresh_token``.
Used as a Bearer token for any other operation it is 401 ``invalid token``.
"""

from __future__ import annotations

from typing import Any

from gateway.auth.tokens import OPERATION, REFRESH, InvalidToken
from gateway.auth.users import AuthFailure, User
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation

_INVALID_TOKEN = "invalid token"


def _active_user(ctx: OperationContext, username: str) -> User:
    user = ctx.gateway.users.load_user(username)
    if user is None:
        raise OperationError(_INVALID_TOKEN, 401)
    if not user.active:
        raise OperationError("Cannot complete request: User is inactive", 401)
    return user


@operation("create_authentication_tokens", needs_auth=False)
def create_authentication_tokens(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """``{operation_token, refresh_token}`` for the body's username and password (401 otherwise)."""
    username = body.get("username")
    password = body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise OperationError("invalid credentials", 401)
    try:
        user = ctx.gateway.users.authenticate(username, password)
    except AuthFailure as exc:
        message = str(exc) if "inactive" in str(exc) else "invalid credentials"
        raise OperationError(message, 401) from exc
    tokens = ctx.gateway.tokens
    return {
        "operation_token": tokens.issue(user.username, user.is_super_user, OPERATION),
        "refresh_token": tokens.issue(user.username, user.is_super_user, REFRESH),
    }


def _verify(ctx: OperationContext, token: Any, kind: str) -> str:
    if not isinstance(token, str) or not token:
        raise OperationError(_INVALID_TOKEN, 401)
    try:
        return ctx.gateway.tokens.verify(token, kind)
    except InvalidToken as exc:
        raise OperationError(_INVALID_TOKEN, 401) from exc


@operation("refresh_operation_token", needs_auth=False)
def refresh_operation_token(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """A new operation token from a valid refresh token (the user must still exist and be active)."""
    from gateway.http.operations_endpoint import authenticate

    header = ctx.auth_header or ""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and "refresh_token" not in body:
        username = _verify(ctx, credentials.strip(), REFRESH)
    else:
        caller = authenticate(ctx.gateway, ctx.auth_header)
        username = _verify(ctx, body.get("refresh_token"), REFRESH)
        if username != caller.username and not caller.is_super_user:
            raise OperationError(_INVALID_TOKEN, 401)
    user = _active_user(ctx, username)
    return {"operation_token": ctx.gateway.tokens.issue(user.username, user.is_super_user, OPERATION)}
