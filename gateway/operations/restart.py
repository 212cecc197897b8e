"""restart and restart_service: answer, then stop gracefully and start again (super users).

The answer is HarperDB's; the restart itself happens after it is sent (see :mod:`gateway.restart`).
``replicated: true`` (HarperDB's restart of every node of a cluster) is refused: this server restarts
only itself. Fields the operation does not take are refused too, so that no body meant for something
else restarts the server.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway import fields
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation
from gateway.restart import CLUSTERING_SERVICES, SERVICES, RestartUnavailable

log = logging.getLogger("gateway.operations.restart")

RESTART_MESSAGE = "Restarting HarperDB. This may take up to 60 seconds."
NOT_REPLICATED = (
    "'replicated' restarts are not supported: this server restarts only itself "
    "(restart each gateway on the store with its own request)"
)


def _check_fields(body: dict[str, Any], known: tuple[str, ...]) -> None:
    """400 naming the fields this operation does not take: a restart is not asked for by a body
    meant for something else."""
    unknown = sorted(str(key) for key in body if key != "operation" and key not in known)
    if unknown:
        taken = " and ".join(f"'{name}'" for name in known)
        raise OperationError(f"{body['operation']} takes only {taken}; unknown fields: {', '.join(unknown)}")


def _restart(ctx: OperationContext, body: dict[str, Any], reason: str) -> None:
    if fields.boolean(body, "replicated", False):
        raise OperationError(NOT_REPLICATED)
    try:
        ctx.gateway.restart.request(reason)
    except RestartUnavailable as exc:
        raise OperationError(str(exc), 409) from exc
    log.warning("%s requested by %s: stopping gracefully, then starting again", reason, ctx.user.username)


@operation("restart", super_user=True)
def restart(ctx: OperationContext, body: dict[str, Any]) -> dict[str, str]:
    """Restart the whole process; the answer comes first."""
    _check_fields(body, ("replicated",))
    _restart(ctx, body, "restart")
    return {"message": RESTART_MESSAGE}


@operation("restart_service", super_user=True)
def restart_service(ctx: OperationContext, body: dict[str, Any]) -> dict[str, str]:
    """Restart ``service`` (``http_workers``: the HTTP server, here the whole process)."""
    _check_fields(body, ("service", "replicated"))
    service = body.get("service")
    if service is None:
        raise OperationError("'service' is required")
    if service in CLUSTERING_SERVICES:
        raise OperationError(
            f"this server has no clustering service to restart ('{service}'); 'http_workers' is the only service"
        )
    if service not in SERVICES:
        shown = service if isinstance(service, str) else repr(service)
        raise OperationError(f"'service' must be 'http_workers', not '{shown}'")
    _restart(ctx, body, f"restart_service {service}")
    return {"message": f"Restarting {service}"}
