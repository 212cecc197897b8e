"""The sampled metrics: ``system.hdb_analytics``, one entry per metric (and operation) per sample.

Entries are indexed by ``time`` (epoch ms) and ``metric``; get_analytics reads a metric's
entries in time order, and entries older than the retention are deleted by time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.system import SystemTable

ANALYTICS_TABLE = "hdb_analytics"
_CHUNK = 1000


class AnalyticsStore:
    """Writes, reads and prunes the sampled entries of every process on the store."""

    def __init__(self, storage: Storage) -> None:
        self._table = SystemTable(
            storage, ANALYTICS_TABLE, "id", [AttributeInfo("time", True), AttributeInfo("metric", True)]
        )

    def add(self, entries: Iterable[dict[str, Any]]) -> int:
        """Store new entries (each gets a fresh ``id``); how many."""
        rows = [{"id": uuid.uuid4().hex, **entry} for entry in entries]
        for start in range(0, len(rows), _CHUNK):
            self._table.write(rows[start : start + _CHUNK], "insert")
        return len(rows)

    def read(
        self,
        metric: str,
        start_ms: float | None,
        end_ms: float | None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The metric's entries with ``start_ms <= time <= end_ms`` (open bounds: None) that ``keep``
        accepts, oldest first."""
        if start_ms is None and end_ms is None:
            rows = self._table.find("metric", KeyRange(equals=metric, has_equals=True))
        else:
            rows = self._table.find("time", KeyRange(lower=start_ms, upper=end_ms))
        chosen = [r for r in rows if r.get("metric") == metric and _within(r, start_ms, end_ms)]
        chosen = [r for r in chosen if keep is None or keep(r)]
        chosen.sort(key=lambda r: (r.get("time") or 0, str(r.get("node")), str(r.get("path", ""))))
        return chosen

    def prune(self, before_ms: float) -> int:
        """Delete entries older than ``before_ms``; how many."""
        old = self._table.keys("time", KeyRange(upper=before_ms, upper_inclusive=False))
        removed = 0
        for start in range(0, len(old), _CHUNK):
            removed += len(self._table.delete(old[start : start + _CHUNK]).written)
        return removed

    def count(self) -> int:
        """How many entries are stored."""
        return self._table.count()


def _within(row: dict[str, Any], start_ms: float | None, end_ms: float | None) -> bool:
    time = row.get("time")
    if not isinstance(time, int | float):
        return False
    return (start_ms is None or time >= start_ms) and (end_ms is None or time <= end_ms)
