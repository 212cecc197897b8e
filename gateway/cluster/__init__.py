"""The cluster family: which gateways and workers work on this store (``cluster_status``).

``install`` builds :class:`Cluster`: this process's :class:`~gateway.cluster.registry.ProcessRegistry`
(on a store shared by several processes, PostgreSQL, a record in ``system.hdb_process``
kept fresh by a heartbeat; on the embedded store, this process only), told at start which
role the process plays (``serve``: HTTP and queued work; ``web``: ``gateway serve
--no-worker``; ``worker``: ``gateway worker``) and asked for the batches and jobs it runs;
and, on such a store, the log every process writes to (``shared_log.py``), which read_log reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.cluster.registry import PROCESS_TABLE, ProcessRegistry
from gateway.cluster.shared_log import LOG_TABLE, SharedLog
from gateway.config import Config
from gateway.imports.service import RUN_TASK
from gateway.jobs import Jobs
from gateway.jobs.service import BULK_TASK
from gateway.storage.ports import Storage

__all__ = ["LOG_TABLE", "PROCESS_TABLE", "ROLES", "Cluster", "install"]

ROLES = ("serve", "web", "worker")
_SHOWN_AS = {RUN_TASK: "batches", BULK_TASK: "jobs"}


@dataclass
class Cluster:
    """This process's place among the processes on the store."""

    registry: ProcessRegistry
    backend: str
    shared_log: SharedLog | None = None
    """Where this process's log entries also go, for every process's read_log (shared stores)."""

    def start(self, role: str) -> None:
        """Register this process as ``role``, start its heartbeat and the shared log."""
        if role not in ROLES:
            raise ValueError(f"unknown process role {role!r}")
        self.registry.start(role)
        if self.shared_log is not None:
            self.shared_log.start(logging.getLogger("gateway"))

    def stop(self) -> None:
        """Leave the list (graceful stop); write the log entries still buffered."""
        if self.shared_log is not None:
            self.shared_log.stop(logging.getLogger("gateway"))
        self.registry.stop()

    def log_entries(
        self, since: str | None, until: str | None, descending: bool
    ) -> Iterator[dict[str, Any]] | None:
        """Every process's log entries in time order (None: the log is not shared, read the local file)."""
        if self.shared_log is None:
            return None
        return self.shared_log.entries(since, until, descending)

    def status(self) -> dict[str, Any]:
        """``cluster_status``'s answer: this process and the live others."""
        processes = self.registry.alive()
        this = processes[0]
        return {
            "node_name": f"{this['host']}:{this['pid']}",
            "is_enabled": self.registry.shared,
            "backend": self.backend,
            "heartbeat": self.registry.heartbeat,
            "expiry": self.registry.expiry,
            "processes": processes,
        }


def install(config: Config, storage: Storage, jobs: Jobs) -> Cluster:
    """The registry (not started: :meth:`Cluster.start` registers the process)."""

    def running() -> dict[str, list[str]]:
        now = jobs.running()
        return {shown: now.get(task, []) for task, shown in _SHOWN_AS.items()}

    registry = ProcessRegistry(
        storage,
        running,
        heartbeat=float(config.get("cluster.heartbeat")),
        expiry=float(config.get("cluster.expiry")),
        shared=jobs.queue.durable,
    )
    shared_log = None
    if registry.shared and bool(config.get("logging.shared")):
        shared_log = SharedLog(
            storage,
            registry.host,
            registry.pid,
            keep_entries=int(config.get("logging.keep_entries")),
            keep_days=float(config.get("logging.keep_days")),
        )
    return Cluster(registry, storage.backend, shared_log)
