"""JWT tokens: create_authentication_tokens (no prior auth) and refresh_operation_token.

A refresh token is accepted only by refresh_operation_token: as ``Bearer`` or,
with Basic (or Bearer operation-token) auth, in the body's ``refresh_token``.
Used as a Bearer token for any other operation it is 401 ``invalid token``.
"""

from __future__ import annotations

from typing import Any

from gateway.auth.tokens import OPERATION, REFRESH, InvalidToken
from gateway.auth.users import AuthFailure, InactiveUser
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation

_INVALID_TOKEN = "invalid token"


@operation("create_authentication_tokens", needs_auth=False)
def create_authentication_tokens(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """``{operation_token, refresh_token}`` for the body's username and password (401 otherwise).

    429 while that user is locked out from the caller's address (see ``Auth.check_password``).
    """
    username = body.get("username")
    password = body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise OperationError("invalid credentials", 401)
    try:
        user = ctx.gateway.auth.check_password(username, password, ctx.client_ip)
    except AuthFailure as exc:
        message = str(exc) if isinstance(exc, InactiveUser) else "invalid credentials"
        raise OperationError(message, 401) from exc
    tokens = ctx.gateway.auth.tokens
    return {
        "operation_token": tokens.issue(user.username, user.is_super_user, OPERATION),
        "refresh_token": tokens.issue(user.username, user.is_super_user, REFRESH),
    }


def _verify(ctx: OperationContext, token: Any, kind: str) -> str:
    if not isinstance(token, str) or not token:
        raise OperationError(_INVALID_TOKEN, 401)
    try:
        return ctx.gateway.auth.tokens.verify(token, kind)
    except InvalidToken as exc:
        raise OperationError(_INVALID_TOKEN, 401) from exc


@operation("refresh_operation_token", needs_auth=False)
def refresh_operation_token(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """A new operation token from a valid refresh token (the user must still exist and be active)."""
    header = ctx.auth_header or ""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and "refresh_token" not in body:
        username = _verify(ctx, credentials.strip(), REFRESH)
    else:
        caller = ctx.gateway.auth.authenticate(ctx.auth_header, ctx.client_ip)
        username = _verify(ctx, body.get("refresh_token"), REFRESH)
        if username != caller.username and not caller.is_super_user:
            raise OperationError(_INVALID_TOKEN, 401)
    user = ctx.gateway.auth.active_user(username)
    return {"operation_token": ctx.gateway.auth.tokens.issue(user.username, user.is_super_user, OPERATION)}
