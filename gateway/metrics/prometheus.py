"""``GET /metrics``: the recorder's totals in the Prometheus text format (prometheus_client).

The counters are read at scrape time by a collector of this process's own registry (not
the library's global one: several apps may live in one process, as in tests), so a request
pays nothing for Prometheus. The standard ``process_*`` metrics (CPU seconds, resident
memory, open files) come from prometheus_client's process collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.metrics.recorder import LATENCY_BUCKETS, Recorder
from gateway.metrics.resources import read_usage

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The media type of the text exposition format."""


class GatewayCollector(Collector):
    """Requests and latency per operation, background work, imported records, the root's disk."""

    def __init__(self, recorder: Recorder, root: Path) -> None:
        self._recorder = recorder
        self._root = root

    def collect(self) -> Iterator[Metric]:
        snapshot = self._recorder.snapshot()
        requests = CounterMetricFamily(
            "gateway_operation_requests",
            "Operations API requests answered, by operation",
            labels=["operation"],
        )
        errors = CounterMetricFamily(
            "gateway_operation_errors", "Operations API requests answered 4xx or 5xx", labels=["operation"]
        )
        latency = HistogramMetricFamily(
            "gateway_operation_duration_seconds", "Operations API latency, by operation", labels=["operation"]
        )
        for name in sorted(snapshot.operations):
            stats = snapshot.operations[name]
            requests.add_metric([name], stats.count)
            errors.add_metric([name], stats.errors)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), stats.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([name], buckets, stats.total)
        yield from (requests, errors, latency)
        work = {
            what: CounterMetricFamily(
                f"gateway_work_{what}", f"Batch runs and bulk jobs {what}", labels=["kind"]
            )
            for what in ("started", "finished", "failed")
        }
        running = GaugeMetricFamily(
            "gateway_work_running", "Batch runs and bulk jobs running now", labels=["kind"]
        )
        records = CounterMetricFamily(
            "gateway_records_imported", "Records committed by ended batch runs and bulk jobs", labels=["kind"]
        )
        for kind, work_stats in sorted(snapshot.work.items()):
            work["started"].add_metric([kind], work_stats.started)
            work["finished"].add_metric([kind], work_stats.finished)
            work["failed"].add_metric([kind], work_stats.failed)
            running.add_metric([kind], work_stats.running)
            records.add_metric([kind], work_stats.records)
        yield from (*work.values(), running, records)
        usage = read_usage(self._root)
        yield GaugeMetricFamily(
            "gateway_disk_free_bytes", "Free space of the root's disk", value=usage.disk_free
        )
        yield GaugeMetricFamily("gateway_disk_total_bytes", "Size of the root's disk", value=usage.disk_total)


def registry_for(recorder: Recorder, root: Path) -> CollectorRegistry:
    """A registry of this gateway's metrics and the process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(recorder, root))
    ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the text format."""
    return generate_latest(registry)
