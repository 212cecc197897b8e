"""The cluster family: which gateways and workers work on this store (``cluster_status``).

``install`` builds :class:`Cluster`: this process's :class:`~gateway.cluster.registry.ProcessRegistry`
(on a store shared by several processes, PostgreSQL, a record in ``system.hdb_process``
kept fresh by a heartbeat; on the embedded store, this process only), told at start which
role the process plays (``serve``: HTTP and queued work; ``web``: ``gateway serve
--no-worker``; ``worker``: ``gateway worker``) and asked for the batches and jobs it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.cluster.registry import PROCESS_TABLE, ProcessRegistry
from gateway.config import Config
from gateway.imports.service import RUN_TASK
from gateway.jobs import Jobs
from gateway.jobs.service import BULK_TASK
from gateway.storage.ports import Storage

__all__ = ["PROCESS_TABLE", "ROLES", "Cluster", "install"]

ROLES = ("serve", "web", "worker")
_SHOWN_AS = {RUN_TASK: "batches", BULK_TASK: "jobs"}


@dataclass
class Cluster:
    """This process's place among the processes on the store."""

    registry: ProcessRegistry
    backend: str

    def start(self, role: str) -> None:
        """Register this process as ``role`` and start its heartbeat."""
        if role not in ROLES:
            raise ValueError(f"unknown process role {role!r}")
        self.registry.start(role)

    def stop(self) -> None:
        """Leave the list (graceful stop)."""
        self.registry.stop()

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
    return Cluster(registry, storage.backend)
