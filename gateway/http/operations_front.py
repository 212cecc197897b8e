"""``POST /`` answered in front of Starlette (``http.fast_path``): the common request without the framework.

:class:`GatewayApp` is the gateway's Starlette app; with the fast path on, it answers ``POST /`` itself
when the request says its body's length (``Content-Length``, no ``Transfer-Encoding``) and that length is
within ``http.max_body_size``: no middleware stack, router, ``Request`` or body-limit wrapper, and the
answer's two messages go straight to the server. Everything else (other paths and methods, a chunked or an
oversized body, which Starlette refuses with its 413) goes through Starlette unchanged. The answer itself
comes from :func:`gateway.http.operations_endpoint.answer`, as through the router, so the bytes, the
metrics and every check are the same either way; an exception that escapes it gets Starlette's plain 500,
as its error layer would give.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response
from starlette.routing import get_route_path
from starlette.types import Message, Receive, Scope, Send

from gateway.http.operations_endpoint import answer


def front_request(scope: Scope, max_body: int) -> tuple[bool, str | None]:
    """Whether the front answers this ``POST``, and its ``Authorization`` header (the first, as Starlette
    reads it)."""
    length: bytes | None = None
    auth: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if length is None:
                length = value
        elif name == b"authorization":
            if auth is None:
                auth = value
        elif name == b"transfer-encoding":
            return False, None
    if length is None or get_route_path(scope) != "/":
        return False, None
    try:
        if int(length) > max_body:
            return False, None
    except ValueError:
        return False, None
    return True, None if auth is None else auth.decode("latin-1")


class GatewayApp(Starlette):
    """Starlette, with ``POST /`` answered in front of it where :func:`front_request` says so."""

    front_max_body: int | None = None
    """The body size up to which the front answers ``POST /``; None: the front is off."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front_max_body is not None and scope["type"] == "http" and scope["method"] == "POST":
            mine, auth = front_request(scope, self.front_max_body)
            if mine:
                scope["app"] = self
                await self._answer(scope, receive, send, auth)
                return
        await super().__call__(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, auth: str | None) -> None:
        async def read_body() -> bytes:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                return bytes(message.get("body", b""))
            chunks: list[bytes] = []
            while True:
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return b"".join(chunks)
                message = await receive()

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        state = self.state
        client = scope.get("client")
        try:
            response = await answer(
                state.gateway, read_body, client[0] if client else "", auth, state.inline_operations
            )
            if type(response) is Response:
                await sending(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response.raw_headers,
                    }
                )
                await send({"type": "http.response.body", "body": response.body})
            else:
                await response(scope, receive, sending)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
