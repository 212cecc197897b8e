"""Running jobs: a job record for each piece of bulk work, its run from the task queue, recovery.

Operations call :meth:`JobService.submit` with the job's type and arguments (JSON: the
request); the job record and the queued work are one atomic step. A worker (this
process or, on a shared queue, any other) runs the *kind* registered for the type
(:attr:`JobService.kinds`, filled by the operations layer), which gets the Job (whose
``progress`` it updates) and the arguments and returns ``(message, result)``; raising
:class:`JobError` ends the job with ERROR and that message, a stop of the server
(``JobStopped`` at a record boundary) ends it with ERROR saying so, and so does a full
device (``OutOfSpace``: ``no space left on the device (records store)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.jobs.progress import JobStopped
from gateway.jobs.table import COMPLETE, ERROR, INTERRUPTED, JOB_TABLE, Job, JobTable
from gateway.storage.errors import OutOfSpace
from gateway.storage.queue import Args, Change, Postponed, TaskQueue

log = logging.getLogger("gateway.bulk")

BULK_TASK = "jobs.bulk"
"""The task queue's name for bulk jobs (key: the job id; args: ``{"type", "args"}``)."""

Kind = Callable[[Job, Args], tuple[str, dict[str, Any] | None]]
"""The work of one job type: ``(job, args) -> (message, result)``."""


class JobError(Exception):
    """A job failed for a reason its message states (the job ends with ERROR)."""


class JobService:
    """Creates job records, queues their work and runs it."""

    def __init__(self, table: JobTable, queue: TaskQueue, stopping: Callable[[], bool]) -> None:
        self.table = table
        self.queue = queue
        self.stopping = stopping
        self.kinds: dict[str, Kind] = {}
        queue.register(BULK_TASK, self._run)

    def submit(self, job_type: str, user: str, body: dict[str, Any], args: Args) -> Job:
        """Record a new job and queue its work (one step); returns at once.

        ``body`` is what the record keeps of the request, ``args`` what the work gets.
        """
        job = self.table.new(job_type, user, body)
        record = job.record()

        def create(stored: dict[str, Any] | None) -> dict[str, Any]:
            if stored is not None:
                raise JobError(f"a job with id {job.id} exists")
            return record

        self.queue.enqueue(
            BULK_TASK, job.id, {"type": job_type, "args": args}, Change(JOB_TABLE, job.id, create)
        )
        return job

    def _run(self, key: str, payload: Args) -> None:
        if self.stopping():
            raise Postponed
        job = self.table.begin(key, self.stopping)
        if job is None:
            log.warning("bulk job %s is not waiting to start; not run", key)
            return
        kind = self.kinds.get(job.type)
        try:
            if kind is None:
                raise JobError(f"no work is known for jobs of type {job.type}")
            message, result = kind(job, dict(payload.get("args") or {}))
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
        """Jobs left IN_PROGRESS whose work is no longer alive become ERROR; how many."""
        count = self.table.recover(lambda: self.queue.alive(BULK_TASK))
        if count:
            log.warning("%d bulk job(s) were cut short (a stop or a dead worker) and are marked ERROR", count)
        return count
