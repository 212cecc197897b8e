"""The jobs family: background work on a scheduler, and the job records ``get_job`` reads.

``install`` builds :class:`Jobs`: the scheduler (APScheduler in this process)
that runs batch imports and bulk jobs, and the job service that records bulk
jobs in ``system.hdb_job``. The tables that describe work (batches, jobs) are
the source of truth: at start each family re-queues or fails what a stop cut
short (``Jobs.recover`` for jobs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gateway.config import Config
from gateway.jobs.scheduler import JobRunner
from gateway.jobs.service import JobService
from gateway.jobs.table import JobTable
from gateway.storage.ports import Storage

SAVE_UNSAVED_SECONDS = 2.0
"""How often ended work that a full device kept from being stored is tried again."""


@dataclass
class Jobs:
    """The scheduler and the bulk job records of one process."""

    scheduler: JobRunner
    service: JobService

    def stopping(self) -> bool:
        """Whether running work should stop at its next record boundary."""
        return self.service.stopping()

    def recover(self) -> int:
        """Jobs cut short by the last stop become ERROR; how many."""
        return self.service.recover()

    def save_unsaved(self) -> int:
        """Store ended jobs a full device kept in memory; how many were stored."""
        return self.service.table.save_unsaved()


def install(config: Config, storage: Storage, stopping: threading.Event) -> Jobs:
    """The scheduler (not started yet) and the job records."""
    scheduler = JobRunner(int(config.get("jobs.threads")))

    def should_stop() -> bool:
        return stopping.is_set() or scheduler.stopping.is_set()

    family = Jobs(scheduler, JobService(JobTable(storage), scheduler, should_stop))
    scheduler.every("jobs:save-unsaved", SAVE_UNSAVED_SECONDS, family.save_unsaved)
    return family
