"""Running jobs: a job record for each piece of background work, its run on the scheduler, recovery.

Operations call :meth:`JobService.submit` with the work to run. The work gets the
Job (whose ``progress`` it updates) and returns ``(message, result)``; raising
:class:`JobError` ends the job with ERROR and that message, a stop of the
server (``JobStopped`` at a record boundary) ends it with ERROR saying so, and
so does a full device (``OutOfSpace``: ``no space left on the device (records store)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.jobs.progress import JobStopped
from gateway.jobs.scheduler import JobRunner
from gateway.jobs.table import COMPLETE, ERROR, INTERRUPTED, Job, JobTable
from gateway.storage.errors import OutOfSpace

log = logging.getLogger("gateway.bulk")

Work = Callable[[Job], tuple[str, dict[str, Any] | None]]


class JobError(Exception):
    """A job failed for a reason its message states (the job ends with ERROR)."""


class JobService:
    """Creates job records and runs their work on the scheduler."""

    def __init__(self, table: JobTable, scheduler: JobRunner, stopping: Callable[[], bool]) -> None:
        self.table = table
        self.scheduler = scheduler
        self.stopping = stopping

    def submit(self, job_type: str, user: str, body: dict[str, Any], work: Work) -> Job:
        """Record a new job and schedule ``work``; returns at once."""
        job = self.table.create(job_type, user, body)
        job.progress.should_stop = self.stopping
        self.scheduler.submit(job.id, self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        try:
            self.table.started(job)
            message, result = work(job)
        except JobError as exc:
            self.table.finished(job, ERROR, str(exc))
        except JobStopped:
            self.table.finished(job, ERROR, f"{INTERRUPTED} ({job.progress.records_done} records processed)")
        except OutOfSpace as exc:
            self.table.finished(job, ERROR, str(exc))
        except Exception as exc:  # a job records its failure; it never kills the worker
            log.exception("bulk job %s (%s) failed", job.id, job.type)
            self.table.finished(job, ERROR, f"unexpected error: {exc}")
        else:
            self.table.finished(job, COMPLETE, message, result)

    def recover(self) -> int:
        """Jobs left IN_PROGRESS by a stopped server become ERROR; how many."""
        count = self.table.recover()
        if count:
            log.warning("%d bulk job(s) were interrupted by the last stop and are marked ERROR", count)
        return count
