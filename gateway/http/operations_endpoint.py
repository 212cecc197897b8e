"""``POST /``: the HarperDB-style Operations API endpoint.

Order of checks: body (JSON object) → authentication (Basic or Bearer; not for
operations registered with ``needs_auth=False``) → operation lookup → role
authorisation → handler in a worker thread, or on the event loop for a cheap, bounded operation
(registered ``inline``) on a backend whose reads are local, when ``http.fast_path`` is on and the
credentials' check is cached (else it goes to a worker thread after all). Every failure is ``{"error": …}``
with HarperDB's status; nothing a client sends produces a 500. A store whose server
cannot be reached answers 503 naming the backend, wherever the request met it
(authentication included).
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import fields
from gateway.auth.permissions import require_super_user, require_table_permission
from gateway.auth.users import NotCached, User
from gateway.errors import OperationError
from gateway.http import body_limits
from gateway.operations import OPERATIONS
from gateway.operations.registry import HARPERDB_OPERATIONS, OperationContext, OperationSpec
from gateway.process import Gateway
from gateway.storage.errors import (
    AttributeExists,
    DatabaseExists,
    DatabaseNotFound,
    InvalidRecord,
    NotSupported,
    OutOfSpace,
    StoreUnavailable,
    TableExists,
    TableNotFound,
)
from gateway.storage.txlog import writing_as

log = logging.getLogger("gateway.operations")


def error_response(error: OperationError) -> Response:
    """The ``{"error": …}`` response of ``error``, with its status and headers."""
    return error_answer(error).response()


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as an object with aliases resolved, or a 400 (nesting and number limits:
    :mod:`gateway.http.body_limits`)."""
    if not raw.strip():
        raise OperationError("Body cannot be empty when content-type is set to 'application/json'")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit exceeded" in str(exc):  # orjson stops at 1,024 levels
            raise OperationError(body_limits.TOO_DEEP) from None
        raise OperationError(f"Invalid JSON in request body: {exc}") from exc
    body_limits.check_body(raw, body)
    if not isinstance(body, dict) or "operation" not in body:
        raise OperationError("Request body must include an 'operation' property.")
    return fields.with_aliases(body)


def operation_spec(name: Any) -> OperationSpec | None:
    """The registered operation a body's ``operation`` names (None: not a name of this server)."""
    return OPERATIONS.get(name) if isinstance(name, str) else None


def execute(
    gateway: Gateway, body: dict[str, Any], user: User | None, client_ip: str, auth: str | None
) -> Any:
    """Look up, authorise and run one operation (in a worker thread)."""
    name = body["operation"]
    spec = operation_spec(name)
    if spec is None:
        if isinstance(name, str) and name in HARPERDB_OPERATIONS:
            raise OperationError(f"Operation '{name}' is not supported by this server")
        shown = name if isinstance(name, str) else orjson.dumps(name).decode()
        raise OperationError(f"Operation '{shown}' not found")
    if user is None:
        user = gateway.auth.authenticate(auth, client_ip) if spec.needs_auth else _anonymous()
    if spec.super_user:
        require_super_user(user, spec.internal_name)
    if spec.permission is not None:
        database = body.get("database", "data")
        table = body.get("table")
        if isinstance(database, str) and isinstance(table, str):
            require_table_permission(user, database, table, spec.permission)
    ctx = OperationContext(gateway=gateway, user=user, client_ip=client_ip, auth_header=auth)
    try:
        with writing_as(user.username or None, name):  # the writes it makes are logged as this user's
            return spec.handler(ctx, body)
    except (DatabaseNotFound, TableNotFound) as exc:
        raise OperationError(str(exc), 404) from exc
    except (DatabaseExists, TableExists, AttributeExists, InvalidRecord, NotSupported) as exc:
        raise OperationError(str(exc), 400) from exc
    except OutOfSpace as exc:  # 507 Insufficient Storage: nothing of the operation was kept
        raise OperationError(str(exc), 507) from exc


def _anonymous() -> User:
    return User(username="", active=True, role={})


def handle(
    gateway: Gateway, body: dict[str, Any], auth: str | None, client_ip: str, *, cached_only: bool = False
) -> Any:
    """Authenticate (unless the operation needs none) and execute, in one worker-thread hop
    (``cached_only``: on the event loop, so NotCached rather than run the slow password hash)."""
    name = body.get("operation")
    spec = operation_spec(name)
    needs_auth = spec is None or spec.needs_auth
    user = gateway.auth.authenticate(auth, client_ip, cached_only=cached_only) if needs_auth else None
    return execute(gateway, body, user, client_ip, auth)


def runs_inline(body: dict[str, Any]) -> bool:
    """Whether this call's operation is registered ``inline`` and the body keeps it within its bound."""
    name = body.get("operation")
    spec = operation_spec(name)
    return spec is not None and spec.runs_inline(body)


async def run_operation(
    gateway: Gateway, body: dict[str, Any], auth: str | None, client_ip: str, inline: bool
) -> Any:
    """The operation's answer: computed on the event loop where ``inline`` (the server's fast path on a
    backend with local reads) allows and the operation is cheap and bounded, else in a worker thread."""
    if inline and runs_inline(body):
        try:
            return handle(gateway, body, auth, client_ip, cached_only=True)
        except NotCached:
            pass
    return await run_in_threadpool(handle, gateway, body, auth, client_ip)


UNKNOWN_OPERATION = "(unknown)"
"""How the metrics count a request that names no operation of this server (bounded label values)."""


class Answer(NamedTuple):
    """An answer to ``POST /``: status, JSON bytes and the error's extra headers (e.g. ``Retry-After``)."""

    status: int
    content: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> Response:
        """The answer as a Starlette response."""
        response = Response(self.content, status_code=self.status, media_type="application/json")
        response.headers.update(dict(self.headers))
        return response


def _json(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_answer(error: OperationError) -> Answer:
    """The ``{"error": …}`` answer of ``error``, with its status and headers."""
    return Answer(error.status, _json(error.body()), tuple(error.headers.items()))


def failure_answer(exc: Exception) -> Answer:
    """The answer to a call that raised ``exc``: its ``{"error": …}`` and status, 503 for a store that
    cannot be reached, else 500 (logged)."""
    if isinstance(exc, StoreUnavailable):
        log.warning("operation failed (503): %s", exc)
        exc = OperationError(str(exc), 503)
    if isinstance(exc, OperationError):
        if exc.status >= 400:
            log.info("operation failed (%s): %s", exc.status, exc.message)
        return error_answer(exc)
    log.error("unexpected failure in an operation", exc_info=exc)
    return Answer(500, _json({"error": "Internal server error"}))


def count(gateway: Gateway, body: dict[str, Any] | None, started: float, status: int) -> None:
    """Count one answer for its operation's metrics (names of no operation as :data:`UNKNOWN_OPERATION`)."""
    name = body.get("operation") if body is not None else None
    counted = name if isinstance(name, str) and name in OPERATIONS else UNKNOWN_OPERATION
    gateway.metrics.request(counted, time.perf_counter() - started, status >= 400)


PARSED_BODY = "gateway.parsed_body"
"""ASGI scope key: the ``POST /`` body the HTTP protocol parsed before :func:`inline_answer` declined
it, so that :func:`operations_endpoint` does not parse it again."""


def inline_answer(gateway: Gateway, raw: bytes, auth: str | None, client_ip: str) -> Answer | dict[str, Any]:
    """The answer to a ``POST /`` body computed here and now (on the event loop), counted; or, when the
    call is not one to answer this way (its operation is not registered ``inline`` or its body is over
    the bound, or the credentials' check is not cached), the parsed body, having done nothing else: then
    it goes the ordinary way (:func:`operations_endpoint`, given it under :data:`PARSED_BODY`). An inline
    operation answers data, never a Response."""
    started = time.perf_counter()
    body: dict[str, Any] | None = None
    try:
        body = parse_body(raw)
        if not runs_inline(body):
            return body
        answer = Answer(200, _json(handle(gateway, body, auth, client_ip, cached_only=True)))
    except NotCached:
        assert body is not None  # parsed: only the credentials' check raises NotCached
        return body
    except Exception as exc:
        answer = failure_answer(exc)
    count(gateway, body, started, answer.status)
    return answer


async def operations_endpoint(request: Request) -> Response:
    """Starlette endpoint for ``POST /``; every answer is counted for its operation's metrics."""
    gateway: Gateway = request.app.state.gateway
    started = time.perf_counter()
    body: dict[str, Any] | None = None
    try:
        body = request.scope.get(PARSED_BODY)
        if body is None:
            body = parse_body(await request.body())
        client_ip = request.client.host if request.client else ""
        auth = request.headers.get("authorization")
        inline = getattr(request.app.state, "inline_operations", False)
        result = await run_operation(gateway, body, auth, client_ip, inline)
        if isinstance(result, Response):
            count(gateway, body, started, result.status_code)
            return result
        answer = Answer(200, _json(result))
    except Exception as exc:
        answer = failure_answer(exc)
    count(gateway, body, started, answer.status)
    return answer.response()


class OperationsFastPath:
    """ASGI middleware (``http.fast_path``): ``POST /`` goes straight to :func:`operations_endpoint`.

    It runs inside Starlette's error and body-size layers, so a request gets the same answer as
    through the router, without the routing, the exception layer and the endpoint wrapper.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and get_route_path(scope) == "/":
            response = await operations_endpoint(Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
