"""The builtin metrics: their names and the attributes of their stored entries.

Every entry of ``system.hdb_analytics`` has ``id``, ``metric``, ``node`` (``host:pid`` of
the process that sampled it), ``time`` (epoch ms, the end of its period) and ``period``
(ms); the rest depends on the metric. Counts are for the period, not since start.
"""

from __future__ import annotations

from typing import Final

RESOURCE_USAGE: Final = "resource-usage"
OPERATIONS: Final = "operations"
BATCHES: Final = "batches"
JOBS: Final = "jobs"
RECORDS_IMPORTED: Final = "records-imported"

COMMON: Final = (
    ("id", "string"),
    ("metric", "string"),
    ("node", "string"),
    ("time", "number"),
    ("period", "number"),
)
_WORK: Final = (("started", "number"), ("finished", "number"), ("failed", "number"), ("running", "number"))

BUILTIN: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    RESOURCE_USAGE: (
        ("userCPUTime", "number"),
        ("systemCPUTime", "number"),
        ("cpuUtilization", "number"),
        ("rss", "number"),
        ("maxRss", "number"),
        ("diskFree", "number"),
        ("diskTotal", "number"),
    ),
    OPERATIONS: (
        ("path", "string"),
        ("count", "number"),
        ("errors", "number"),
        ("mean", "number"),
        ("p50", "number"),
        ("p90", "number"),
        ("p95", "number"),
        ("p99", "number"),
    ),
    BATCHES: _WORK,
    JOBS: _WORK,
    RECORDS_IMPORTED: (
        ("count", "number"),
        ("batches", "number"),
        ("jobs", "number"),
        ("perSecond", "number"),
    ),
}
"""Metric name → its own attributes (after :data:`COMMON`). Times are milliseconds, sizes bytes:
``userCPUTime``/``systemCPUTime`` CPU ms used in the period, ``cpuUtilization`` their sum over
the period (1.0: one core busy); ``operations`` has one entry per operation answered in the period
(``path``: its name) with latency ``mean`` and percentiles in ms, ``errors`` the 4xx/5xx answers;
``records-imported`` counts the records committed by batch runs and bulk jobs that ended in the
period."""


def describe(metric: str) -> list[dict[str, str]]:
    """describe_metric's attributes of a builtin metric (KeyError when unknown)."""
    return [{"name": name, "type": kind} for name, kind in (*COMMON, *BUILTIN[metric])]
