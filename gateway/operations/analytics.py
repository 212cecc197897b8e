"""Metrics: list_metrics, describe_metric, get_analytics (super users), as HarperDB names them.

The metrics are the gateway's builtin ones (``gateway/metrics/catalog.py``); there are no
custom metrics, so ``metric_types: ["custom"]`` lists none. get_analytics reads the samples
stored in ``system.hdb_analytics`` by every process on the store, oldest first.
"""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.errors import OperationError
from gateway.metrics import catalog
from gateway.operations.registry import OperationContext, operation
from gateway.query.conditions import parse_group

METRIC_TYPES = ("builtin", "custom")
MAX_SECONDS = 9_007_199_254_740
"""The latest ``start_time``/``end_time``: its milliseconds are still an exact number (2**53)."""


def _metric(body: dict[str, Any]) -> str:
    name = fields.string(body, "metric")
    if name not in catalog.BUILTIN:
        known = ", ".join(catalog.BUILTIN)
        raise OperationError(f"metric '{name}' not found (the builtin metrics are {known})", 404)
    return name


def _seconds(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_SECONDS:
        raise OperationError(f"'{name}' must be a Unix time in seconds (a number from 0 to {MAX_SECONDS})")
    return float(value)


def _harper_conditions(conditions: Any) -> Any:
    """HarperDB's get_analytics example names a condition's comparator ``operator``: it is read as
    ``comparator`` where the condition has neither that nor ``search_type`` (a group's stays its own)."""
    if not isinstance(conditions, list):
        return conditions
    read: list[Any] = []
    for condition in conditions:
        if isinstance(condition, dict) and "conditions" in condition:
            condition = {**condition, "conditions": _harper_conditions(condition["conditions"])}
        elif (
            isinstance(condition, dict)
            and "operator" in condition
            and "comparator" not in condition
            and "search_type" not in condition
        ):
            comparator = condition["operator"]
            condition = {k: v for k, v in condition.items() if k != "operator"}
            condition["comparator"] = comparator
        read.append(condition)
    return read


@operation("list_metrics", super_user=True)
def list_metrics(ctx: OperationContext, body: dict[str, Any]) -> list[str]:
    """The names of the metrics of the given types (default builtin)."""
    types = body.get("metric_types")
    if types is None:
        types = ["builtin"]
    if not isinstance(types, list) or not all(isinstance(t, str) and t in METRIC_TYPES for t in types):
        raise OperationError("'metric_types' must be an array of 'builtin' and 'custom'")
    return list(catalog.BUILTIN) if "builtin" in types else []


@operation("describe_metric", super_user=True)
def describe_metric(ctx: OperationContext, body: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a metric's entries with their types."""
    return {"attributes": catalog.describe(_metric(body))}


@operation("get_analytics", super_user=True)
def get_analytics(ctx: OperationContext, body: dict[str, Any]) -> list[dict[str, Any]]:
    """A metric's stored entries between ``start_time`` and ``end_time`` (seconds, inclusive) that
    match ``conditions``, oldest first, with ``get_attributes`` only when given."""
    metric = _metric(body)
    start, end = _seconds(body, "start_time"), _seconds(body, "end_time")
    keep = None
    if body.get("conditions") is not None:
        keep = parse_group(_harper_conditions(body["conditions"]), body.get("operator")).matches
    attributes = fields.attribute_names(body) if body.get("get_attributes") is not None else ["*"]
    if start is not None and end is not None and start > end:
        return []
    rows = ctx.gateway.metrics.store.read(
        metric,
        None if start is None else start * 1000.0,
        None if end is None else end * 1000.0,
        keep,
    )
    if "*" in attributes:
        return rows
    return [{name: row[name] for name in attributes if name in row} for row in rows]
