"""The metrics family: what this process does, counted, sampled into the store and scraped.

``install`` builds :class:`Metrics`: the :class:`~gateway.metrics.recorder.Recorder` (requests
and latency per operation, recorded by ``POST /``; batch runs and bulk jobs, told by the task
queue's observer, ``work.py``), the sampler that every ``metrics.sample_seconds`` stores the
period's entries in ``system.hdb_analytics`` (``store.py``; get_analytics reads them, entries
older than ``metrics.keep_days`` are deleted), and the Prometheus registry ``GET /metrics``
serves (``prometheus.py``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from gateway.config import Config
from gateway.imports import Imports
from gateway.jobs import Jobs
from gateway.metrics.prometheus import registry_for
from gateway.metrics.recorder import Recorder
from gateway.metrics.sampler import Sampler
from gateway.metrics.store import ANALYTICS_TABLE, AnalyticsStore
from gateway.metrics.work import WorkObserver
from gateway.storage.ports import Storage

__all__ = ["ANALYTICS_TABLE", "Metrics", "install"]

SAMPLE_JOB = "metrics.sample"


@dataclass
class Metrics:
    """This process's counters, their stored samples and their Prometheus registry."""

    recorder: Recorder
    store: AnalyticsStore
    sampler: Sampler
    registry: CollectorRegistry
    enabled: bool
    """``metrics.enabled``: requests are recorded and samples stored (else the counters stay 0)."""
    scrape_auth: bool
    """``metrics.prometheus_auth``: ``GET /metrics`` needs a super user's credentials."""

    def request(self, operation: str, seconds: float, failed: bool) -> None:
        """Count one answered request (nothing when metrics are off)."""
        if self.enabled:
            self.recorder.request(operation, seconds, failed)


def install(config: Config, storage: Storage, jobs: Jobs, imports: Imports) -> Metrics:
    """The recorder, the store, the sampler on the scheduler (it runs once the scheduler starts)."""
    recorder = Recorder()
    store = AnalyticsStore(storage)
    node = f"{socket.gethostname()}:{os.getpid()}"
    sampler = Sampler(
        recorder, store, config.root, node, float(config.get("metrics.keep_days")), storage.clock
    )
    enabled = bool(config.get("metrics.enabled"))
    if enabled:
        jobs.queue.observers.append(WorkObserver(recorder, imports.batches.get, jobs.service.table.get))
        seconds = float(config.get("metrics.sample_seconds"))
        if not seconds > 0:
            raise ValueError(f"metrics.sample_seconds must be more than 0, not {seconds}")
        jobs.scheduler.every(SAMPLE_JOB, seconds, sampler.sample_quietly)
    return Metrics(
        recorder,
        store,
        sampler,
        registry_for(recorder, config.root),
        enabled,
        bool(config.get("metrics.prometheus_auth")),
    )
