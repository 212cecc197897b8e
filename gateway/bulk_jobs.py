"""Bulk job lifecycle: the job table, running jobs on the scheduler, startup recovery.

``install`` registers a ``BulkJobs`` service (``gateway.services["bulk_jobs"]``);
operations call ``submit`` with the work to run. The work gets the Job (whose
``progress`` it updates) and returns ``(message, result)``; raising ``JobError``
(or a loader's ``LoadFailed``) ends the job with ERROR and that message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.bulk.arrowpool import use_jemalloc
from gateway.bulk.jobstore import COMPLETE, ERROR, INTERRUPTED, Job, JobStore
from gateway.bulk.loader import LoadFailed
from gateway.bulk.progress import JobStopped
from gateway.state import Gateway

log = logging.getLogger("gateway.bulk")

SERVICE = "bulk_jobs"
Work = Callable[[Job], tuple[str, dict[str, Any] | None]]


class JobError(Exception):
    """A job failed for a reason its message states (the job ends with ERROR)."""


class BulkJobs:
    """Creates job records and runs their work on the gateway's scheduler."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.store = JobStore(gateway.storage)

    def stopping(self) -> bool:
        return self.gateway.stopping.is_set() or self.gateway.jobs.stopping.is_set()

    def submit(self, job_type: str, user: str, body: dict[str, Any], work: Work) -> Job:
        """Record a new job and schedule ``work``; returns at once."""
        job = self.store.create(job_type, user, body)
        job.progress.should_stop = self.stopping
        self.gateway.jobs.submit(job.id, self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        self.store.started(job)
        try:
            message, result = work(job)
        except (JobError, LoadFailed) as exc:
            self.store.finished(job, ERROR, str(exc))
        except JobStopped:
            self.store.finished(job, ERROR, f"{INTERRUPTED} ({job.progress.records_done} records processed)")
        except Exception as exc:  # a job records its failure; it never kills the worker
            log.exception("bulk job %s (%s) failed", job.id, job.type)
            self.store.finished(job, ERROR, f"unexpected error: {exc}")
        else:
            self.store.finished(job, COMPLETE, message, result)


def service(gateway: Gateway) -> BulkJobs:
    """The installed BulkJobs of a gateway."""
    jobs: BulkJobs = gateway.services[SERVICE]
    return jobs


def install(gateway: Gateway) -> None:
    """Register the job table and the bulk job service (and the Arrow memory pool of its loads)."""
    use_jemalloc()
    gateway.services[SERVICE] = BulkJobs(gateway)


def recover(gateway: Gateway) -> None:
    """Jobs left IN_PROGRESS by a stopped server become ERROR."""
    count = service(gateway).store.recover()
    if count:
        log.warning("%d bulk job(s) were interrupted by the last stop and are marked ERROR", count)
