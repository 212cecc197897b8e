"""``GET /metrics``: this process's metrics in the Prometheus text format.

Open by default, as scrapers expect (bind the port to a private network, or put it behind
the proxy, to keep it private); with ``metrics.prometheus_auth: true`` it needs a super
user's Basic or Bearer credentials (401/403 with HarperDB's error body otherwise).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.permissions import require_super_user
from gateway.errors import OperationError
from gateway.http.operations_endpoint import error_response
from gateway.metrics.prometheus import CONTENT_TYPE, exposition
from gateway.process import Gateway
from gateway.storage.errors import StoreUnavailable


def _check(gateway: Gateway, header: str | None, client_ip: str) -> None:
    require_super_user(gateway.auth.authenticate(header, client_ip), "metrics")


async def metrics(request: Request) -> Response:
    """The exposition of the process collector and the gateway's counters."""
    gateway: Gateway = request.app.state.gateway
    if gateway.metrics.scrape_auth:
        client_ip = request.client.host if request.client else ""
        try:
            await run_in_threadpool(_check, gateway, request.headers.get("authorization"), client_ip)
        except OperationError as error:
            return error_response(error)
        except StoreUnavailable as exc:
            return error_response(OperationError(str(exc), 503))
    body = await run_in_threadpool(exposition, gateway.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics, methods=["GET"])]
