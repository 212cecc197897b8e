"""The jobs family: the task queue that runs background work, and the job records ``get_job`` reads.

``install`` builds :class:`Jobs`: the task queue (the store's shared one when it has
one, PostgreSQL's procrastinate; else the embedded queue on this process's scheduler),
the scheduler (APScheduler in this process, for housekeeping and the embedded queue's
work) and the job service that records bulk jobs in ``system.hdb_job``. The tables
that describe work (batches, jobs) are the source of truth: each family fails what
it recorded as running when the queue says its work is no longer alive (at start,
and on a shared queue every ``jobs.heartbeat`` seconds: a worker that died), and on
the embedded queue queues again at start what was waiting.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gateway.config import Config
from gateway.jobs.embedded import EmbeddedQueue
from gateway.jobs.scheduler import JobRunner
from gateway.jobs.service import JobService
from gateway.jobs.table import JobTable
from gateway.jobs.tracking import TrackedQueue
from gateway.storage.ports import Storage
from gateway.storage.queue import TaskQueue

SAVE_UNSAVED_SECONDS = 2.0
"""How often ended work that a full device kept from being stored is tried again."""


@dataclass
class Jobs:
    """The task queue, the scheduler and the bulk job records of one process."""

    scheduler: JobRunner
    queue: TrackedQueue
    service: JobService
    lost_check_seconds: float
    working: bool = False
    """Whether this process was started to run queued work."""

    def running(self) -> dict[str, list[str]]:
        """Task name → keys of the work this process runs right now."""
        return self.queue.running()

    def stopping(self) -> bool:
        """Whether running work should stop at its next record boundary."""
        return self.service.stopping()

    def start(self, work: bool, concurrency: int) -> None:
        """Start the scheduler and, with ``work``, run queued work in this process."""
        self.scheduler.start()
        if work:
            self.working = True
            self.queue.start(concurrency)

    def stop(self) -> None:
        """Take no more work; wait for running work (told to stop by ``stopping``) to end."""
        self.queue.stop()
        self.scheduler.shutdown()

    def recover(self) -> int:
        """Jobs whose work is no longer alive (cut short by a stop or a dead worker) become ERROR."""
        return self.service.recover()

    def save_unsaved(self) -> int:
        """Store ended jobs a full device kept in memory; how many were stored."""
        return self.service.table.save_unsaved()


def install(config: Config, storage: Storage, stopping: threading.Event) -> Jobs:
    """The queue and scheduler (not started yet) and the job records."""
    scheduler = JobRunner(int(config.get("jobs.threads")))
    inner: TaskQueue = storage.queue if storage.queue is not None else EmbeddedQueue(storage, scheduler)
    queue = TrackedQueue(inner)

    def should_stop() -> bool:
        return stopping.is_set() or scheduler.stopping.is_set()

    service = JobService(JobTable(storage, queue), queue, should_stop)
    family = Jobs(scheduler, queue, service, float(config.get("jobs.heartbeat")))
    scheduler.every("jobs:save-unsaved", SAVE_UNSAVED_SECONDS, family.save_unsaved)
    if queue.durable:
        scheduler.every("jobs:lost", family.lost_check_seconds, family.recover)
    return family
