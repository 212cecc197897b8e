"""Every ``metrics.sample_seconds``, the deltas since the previous sample become stored entries.

A sample is one ``resource-usage``, ``batches``, ``jobs`` and ``records-imported`` entry and
one ``operations`` entry per operation answered in the period; entries older than
``metrics.keep_days`` are deleted at the same time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.metrics import catalog as C
from gateway.metrics.recorder import OperationStats, Recorder, Snapshot, WorkStats, quantile
from gateway.metrics.resources import Usage, read_usage
from gateway.metrics.store import AnalyticsStore

log = logging.getLogger("gateway.metrics")


class Sampler:
    """Turns the recorder's totals into stored per-period entries."""

    def __init__(
        self,
        recorder: Recorder,
        store: AnalyticsStore,
        root: Path,
        node: str,
        keep_days: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._recorder = recorder
        self._store = store
        self._root = root
        self._node = node
        self._keep_days = keep_days
        self._clock = clock
        self._lock = threading.Lock()
        self._last_time = clock()
        self._last: Snapshot = recorder.snapshot()
        self._last_usage: Usage = read_usage(root)

    def sample(self) -> int:
        """Store the entries of the period since the last sample and prune old ones; entries stored."""
        with self._lock:
            now = self._clock()
            snapshot, usage = self._recorder.snapshot(), read_usage(self._root)
            period = max(now - self._last_time, 1e-6)
            entries = self._entries(now, period, snapshot, usage)
            self._last_time, self._last, self._last_usage = now, snapshot, usage
            stored = self._store.add(entries)
            if self._keep_days > 0:
                self._store.prune((now - self._keep_days * 86400.0) * 1000.0)
            return stored

    def sample_quietly(self) -> None:
        """``sample`` for the scheduler: a failure is logged, the next period tries again."""
        try:
            self.sample()
        except Exception:
            log.warning("metrics sample not stored", exc_info=True)

    def _entries(self, now: float, period: float, snapshot: Snapshot, usage: Usage) -> list[dict[str, Any]]:
        base = {"node": self._node, "time": round(now * 1000.0), "period": round(period * 1000.0)}
        before = self._last_usage
        user_ms = max(0.0, usage.user_cpu - before.user_cpu) * 1000.0
        system_ms = max(0.0, usage.system_cpu - before.system_cpu) * 1000.0
        entries: list[dict[str, Any]] = [
            {
                **base,
                "metric": C.RESOURCE_USAGE,
                "userCPUTime": round(user_ms, 3),
                "systemCPUTime": round(system_ms, 3),
                "cpuUtilization": round((user_ms + system_ms) / (period * 1000.0), 4),
                "rss": usage.rss,
                "maxRss": usage.max_rss,
                "diskFree": usage.disk_free,
                "diskTotal": usage.disk_total,
            }
        ]
        for name in sorted(snapshot.operations):
            stats = _minus(snapshot.operations[name], self._last.operations.get(name))
            if stats.count:
                entries.append({**base, "metric": C.OPERATIONS, "path": name, **_latency(stats)})
        records: dict[str, int] = {}
        for kind, metric in (("batch", C.BATCHES), ("job", C.JOBS)):
            now_work, was = snapshot.work[kind], self._last.work.get(kind, WorkStats())
            entries.append(
                {
                    **base,
                    "metric": metric,
                    "started": now_work.started - was.started,
                    "finished": now_work.finished - was.finished,
                    "failed": now_work.failed - was.failed,
                    "running": now_work.running,
                }
            )
            records[kind] = now_work.records - was.records
        total = records["batch"] + records["job"]
        entries.append(
            {
                **base,
                "metric": C.RECORDS_IMPORTED,
                "count": total,
                "batches": records["batch"],
                "jobs": records["job"],
                "perSecond": round(total / period, 3),
            }
        )
        return entries


def _minus(now: OperationStats, before: OperationStats | None) -> OperationStats:
    if before is None:
        return now
    return OperationStats(
        now.count - before.count,
        now.errors - before.errors,
        now.total - before.total,
        [a - b for a, b in zip(now.buckets, before.buckets, strict=True)],
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _latency(stats: OperationStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "errors": stats.errors,
        "mean": _ms(stats.total / stats.count),
        "p50": _ms(quantile(stats.buckets, 0.5)),
        "p90": _ms(quantile(stats.buckets, 0.9)),
        "p95": _ms(quantile(stats.buckets, 0.95)),
        "p99": _ms(quantile(stats.buckets, 0.99)),
    }
