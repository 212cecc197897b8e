"""``POST /`` answered by the HTTP protocol itself, for calls the event loop answers (``http.fast_path``).

A search_by_id of a few ids costs the gateway far less than the ASGI machinery around it (a task, a
scope, Starlette's middleware layers, Request and Response, two writes). :class:`OperationsHttpProtocol`
(uvicorn's httptools protocol, as :class:`~gateway.http.server.IdleClosingHttpProtocol`) keeps the
body of a ``POST /`` that gives a ``Content-Length`` of at most :data:`INLINE_BODY_LIMIT` bytes (and
within ``http.max_body_size``), when no
earlier request of the connection is still being answered, and at the end of the message asks
:func:`~gateway.http.operations_endpoint.inline_answer` for the answer. A call that operation
registers ``inline`` (within its bound, credentials cached) is answered at once, in one write: the
status line and uvicorn's own headers (``date``, ``server``) then the same headers and bytes as the
endpoint. Any other call (and any other request) goes to the ASGI app as usual, given the body kept
(and, for a call declined, the body already parsed, in the scope under
:data:`~gateway.http.operations_endpoint.PARSED_BODY`).
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from gateway.config import Config
from gateway.http.operations_endpoint import PARSED_BODY, Answer, inline_answer
from gateway.http.server import IdleClosingHttpProtocol, fast_path, trusted_proxies

INLINE_BODY_LIMIT = 16 * 1024
"""The largest ``POST /`` body (bytes) kept by the protocol to be answered inline (a bounded call is small)."""


class OperationsHttpProtocol(IdleClosingHttpProtocol):
    """The httptools protocol that answers inline operations of ``POST /`` itself (see the module)."""

    operations_app: ClassVar[Starlette | None] = None
    """The gateway's app: its state says whether the fast path is on and holds the gateway."""
    body_limit: ClassVar[int] = INLINE_BODY_LIMIT
    """The largest body kept here: :data:`INLINE_BODY_LIMIT`, or ``http.max_body_size`` if smaller."""
    _kept: list[bytes] | None = None
    _auth: str | None = None
    """The kept request's ``Authorization`` header (its first), if any."""
    _closing = False

    def on_headers_complete(self) -> None:
        if self._keeps_body():
            self._stop_head_deadline()
            self._kept = []
        else:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._kept is None:
            super().on_body(body)
        else:
            self._kept.append(body)

    def on_message_complete(self) -> None:
        if self._kept is None:
            super().on_message_complete()
            return
        raw = b"".join(self._kept)
        self._kept = None
        assert self.operations_app is not None  # else no body is kept
        gateway = self.operations_app.state.gateway
        answer = inline_answer(gateway, raw, self._auth, self.client[0] if self.client else "")
        if not isinstance(answer, Answer):  # the ordinary way: an ASGI cycle, given the body, parsed too
            cast(dict[str, Any], self.scope)[PARSED_BODY] = answer  # a key of the gateway's own
            super().on_headers_complete()
            if self.cycle is not None:
                self.cycle.body = bytearray(raw)
                self.cycle.more_body = False
                self.cycle.keep_alive = self.cycle.keep_alive and not self._closing
                self.cycle.message_event.set()
            return
        self._send(answer)

    def shutdown(self) -> None:
        if self._kept is None:
            super().shutdown()
        else:  # a kept request is answered, then the connection closes
            self._closing = True

    def _keeps_body(self) -> bool:
        """Whether this request's body is kept here for :func:`inline_answer` (see the module)."""
        app = self.operations_app
        if app is None or not getattr(app.state, "inline_operations", False):
            return False
        if self.url != b"/" or self.parser.get_method() != b"POST" or self.parser.get_http_version() != "1.1":
            return False
        if self.expect_100_continue or self.parser.should_upgrade() or self.flow.write_paused:
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # an earlier (pipelined) request is still being answered
        length = auth = None
        for name, value in self.headers:
            if name == b"content-length":
                length = value
            elif name == b"authorization" and auth is None:
                auth = value
            elif name == b"transfer-encoding":
                return False
        self._auth = None if auth is None else auth.decode("latin-1")
        return length is not None and length.isdigit() and int(length) <= self.body_limit

    def _send(self, answer: Answer) -> None:
        """Write the answer in one piece, as uvicorn writes an ASGI app's, and finish the request."""
        keep_alive = self.parser.should_keep_alive() and not self._closing
        content = [STATUS_LINE[answer.status], _default_lines(self.server_state.default_headers)]
        content.append(b"content-length: %d\r\ncontent-type: application/json\r\n" % len(answer.content))
        for header, text in answer.headers:
            content.extend([header.lower().encode("latin-1"), b": ", text.encode("latin-1"), b"\r\n"])
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content.extend([b"\r\n", answer.content])
        self.transport.write(b"".join(content))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()


_default_lines_of: tuple[object, bytes] = (None, b"")
"""The header lines last made of uvicorn's default headers, and the list they were made of."""


def _default_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's default headers (``date``, ``server``) as header lines, made again only when uvicorn
    replaces the list (once a second, for the date)."""
    global _default_lines_of
    if _default_lines_of[0] is not headers:
        _default_lines_of = (headers, b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers))
    return _default_lines_of[1]


def http_protocol(config: Config, app: Starlette) -> type[IdleClosingHttpProtocol]:
    """The protocol ``gateway serve`` runs ``app`` with: :class:`OperationsHttpProtocol` with
    ``http.fast_path`` when no proxy is trusted (a proxied client's address is read by uvicorn's ASGI
    layer only), else :class:`~gateway.http.server.IdleClosingHttpProtocol`."""
    if not fast_path(config) or trusted_proxies(config):
        return IdleClosingHttpProtocol
    limit = min(INLINE_BODY_LIMIT, int(config.get("http.max_body_size")))
    return type(
        "GatewayHttpProtocol", (OperationsHttpProtocol,), {"operations_app": app, "body_limit": limit}
    )
