"""``/api/push-data/<url>``: Haplo's REST push-data APIs (haplo-import.md §1.8).

Order of checks of a ``POST``: the url names a definition (else 400 ``API not defined: <url>``);
the caller presents, as HTTP Basic ``haplo:<key>``, a key whose path rule allows this path
(else 403 ``not authorised``); the definition is enabled (else 400 ``API is disabled: <url>``);
the body fits ``push_data.max_body_size`` (else 413, before more of it is read). The control
file then runs over the body in a worker thread and the answer is the definition's format.
``GET`` is 400 ``Only POST requests supported for push data REST APIs.`` (JSON).
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.auth.api_keys import SERVICE_USER, ApiKeyRejected
from gateway.auth.basic import basic_credentials
from gateway.process import Gateway
from gateway.pushdata.answer import NOT_AUTHORISED, render, status
from gateway.pushdata.definitions import PATH_PREFIX
from gateway.pushdata.push import PushAnswer, refusal
from gateway.storage.errors import StoreUnavailable

log = logging.getLogger("gateway.http")

ONLY_POST = "Only POST requests supported for push data REST APIs."


class TooLarge(Exception):
    """The body is larger than the limit."""


def answer(result: PushAnswer, response: str = "JSON", code: int | None = None) -> Response:
    """``result`` in the definition's format, with its status (or ``code``)."""
    body, media_type = render(result, response)
    return Response(body, status_code=code if code is not None else status(result), media_type=media_type)


async def _authorised(request: Request, gateway: Gateway) -> bool:
    """Whether the request presents a key allowed on this exact path."""
    credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is None or credentials[0] != SERVICE_USER:
        return False
    client_ip = request.client.host if request.client else ""
    try:
        await run_in_threadpool(
            gateway.auth.api_keys.authenticate, credentials[1], request.url.path, client_ip
        )
    except ApiKeyRejected:
        return False
    return True


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused (TooLarge) as soon as it is known to exceed ``limit``."""
    try:
        declared = int(request.headers.get("content-length", "0"))
    except ValueError:
        declared = 0
    if declared > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def push(request: Request) -> Response:
    """Run the API's control file over the request body; Haplo's answer."""
    if request.method != "POST":
        return answer(refusal(ONLY_POST))
    gateway: Gateway = request.app.state.gateway
    family = gateway.push_data
    url = request.path_params["url"]
    try:
        definition = await run_in_threadpool(family.apis.get, url)
        if definition is None:
            return answer(refusal(f"API not defined: {url}"))
        response = str(definition.get("response") or "JSON")
        if not await _authorised(request, gateway):
            return answer(PushAnswer(NOT_AUTHORISED, error_count=1), response)
        if not definition.get("enabled"):
            return answer(refusal(f"API is disabled: {url}"), response)
        try:
            body = await _body(request, family.max_body)
        except TooLarge:
            too_large = refusal(
                f"Request body is larger than push_data.max_body_size ({family.max_body} bytes)"
            )
            return answer(too_large, response, 413)
        result = await run_in_threadpool(family.runner.run, definition["control"], body, f"push-data:{url}")
        return answer(result, response)
    except StoreUnavailable as down:  # 503: the store's server cannot be reached
        log.warning("push-data request failed (503): %s", down)
        return answer(refusal(str(down)), "JSON", 503)


routes: list[BaseRoute] = [
    Route(PATH_PREFIX + "{url}", push, methods=["POST"]),
    Route(PATH_PREFIX + "{url}", push, methods=["GET"], include_in_schema=False),  # always 400 (POST says so)
]
