"""cluster_status: the gateways and workers alive on this store."""

from __future__ import annotations

from typing import Any

from gateway.operations.registry import OperationContext, operation


@operation("cluster_status", super_user=True, internal_name="clusterStatus")
def cluster_status(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """This process and, on a shared store (PostgreSQL), every other live one: host, pid, role,
    started, last heartbeat, the batches and jobs each runs."""
    return ctx.gateway.cluster.status()
