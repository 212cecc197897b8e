"""Job records in ``system.hdb_job`` (HarperDB's job fields plus ``progress``).

A job is written when it is created (IN_PROGRESS), when it starts and when it
ends (COMPLETE or ERROR). While it runs, ``get_job`` reads its live progress
from memory. Jobs still IN_PROGRESS when the server starts were cut short by a
stop or a crash and become ERROR (``recover``).

A job that ends while its end cannot be stored (a full device) stays in memory
with its status and message, so ``get_job`` shows it at once, and is stored by
``save_unsaved`` once the store takes writes again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.jobs.progress import Progress
from gateway.storage.errors import OutOfSpace
from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.system import SystemTable
from gateway.timestamps import epoch_ms, iso_ms

JOB_TABLE = "hdb_job"
IN_PROGRESS = "IN_PROGRESS"
COMPLETE = "COMPLETE"
ERROR = "ERROR"
INTERRUPTED = "the server stopped before the job finished"

log = logging.getLogger("gateway.jobs")


@dataclass
class Job:
    """One bulk job; ``progress`` is updated in place by the running work."""

    id: str
    type: str
    user: str
    created_datetime: int
    job_body: dict[str, Any]
    status: str = IN_PROGRESS
    message: str | None = None
    start_datetime: int | None = None
    end_datetime: int | None = None
    result: dict[str, Any] | None = None
    progress: Progress = field(default_factory=Progress)

    def record(self) -> dict[str, Any]:
        """The stored form of the job."""
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "message": self.message,
            "user": self.user,
            "created_datetime": self.created_datetime,
            "start_datetime": self.start_datetime,
            "end_datetime": self.end_datetime,
            "job_body": self.job_body,
            "result": self.result,
            "progress": self.progress.as_dict(),
        }


def public_job(record: dict[str, Any]) -> dict[str, Any]:
    """A job as ``get_job`` shows it (HarperDB's field order, then job_body and progress)."""
    out: dict[str, Any] = {"id": record["id"]}
    if record.get("result") is not None:
        out["result"] = record["result"]
    for name in ("status", "message", "end_datetime", "type", "start_datetime", "created_datetime", "user"):
        out[name] = record.get(name)
    out["job_body"] = record.get("job_body")
    out["progress"] = record.get("progress")
    return out


def dated_job(record: dict[str, Any]) -> dict[str, Any]:
    """A job as ``search_jobs_by_start_date`` shows it (with the ``*_converted`` ISO forms)."""
    out: dict[str, Any] = {"id": record["id"]}
    for name in ("created_datetime", "end_datetime", "message", "start_datetime", "status", "type", "user"):
        out[name] = record.get(name)
    if record.get("result") is not None:
        out["result"] = record["result"]
    out["job_body"] = record.get("job_body")
    out["progress"] = record.get("progress")
    for name in ("start_datetime", "end_datetime"):
        if isinstance(record.get(name), int | float):
            out[f"{name}_converted"] = iso_ms(record[name])
    return out


class JobTable:
    """Creates, updates and finds job records; keeps running jobs in memory."""

    def __init__(self, storage: Storage) -> None:
        self._table = SystemTable(
            storage,
            JOB_TABLE,
            "id",
            [AttributeInfo("status", True, None), AttributeInfo("start_datetime", True, None)],
        )
        self._live: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self, job_type: str, user: str, body: dict[str, Any]) -> Job:
        """A new IN_PROGRESS job, stored before it is scheduled."""
        job = Job(str(uuid.uuid4()), job_type, user, epoch_ms(), body)
        with self._lock:
            self._live[job.id] = job
        try:
            self._save(job)
        except BaseException:  # no record, no job (OutOfSpace reaches the caller)
            with self._lock:
                self._live.pop(job.id, None)
            raise
        return job

    def started(self, job: Job) -> None:
        job.start_datetime = epoch_ms()
        self._save(job)

    def finished(self, job: Job, status: str, message: str, result: dict[str, Any] | None = None) -> None:
        """Record the outcome and forget the live job (kept in memory while the store is full)."""
        job.status = status
        job.message = message
        job.result = result
        job.end_datetime = epoch_ms()
        if status == COMPLETE:
            job.progress.finished = True
        try:
            self._save(job)
        except OutOfSpace as exc:
            log.warning("job %s ended %s; storing it waits for space: %s", job.id, status, exc)
            return
        with self._lock:
            self._live.pop(job.id, None)

    def save_unsaved(self) -> int:
        """Store the ended jobs kept in memory because the store was full; how many were stored."""
        with self._lock:
            ended = [job for job in self._live.values() if job.status != IN_PROGRESS]
        stored = 0
        for job in ended:
            try:
                self._save(job)
            except OutOfSpace:
                break
            with self._lock:
                self._live.pop(job.id, None)
            stored += 1
        return stored

    def _save(self, job: Job) -> None:
        self._table.write([job.record()], "upsert")

    def get(self, job_id: Any) -> dict[str, Any] | None:
        """The job's current record (live progress for a running job), or None."""
        live = self._live.get(job_id) if isinstance(job_id, str) else None
        if live is not None:
            return live.record()
        if not isinstance(job_id, str | int | float) or isinstance(job_id, bool):
            return None
        return self._table.get(job_id)

    def started_between(self, low: float, high: float) -> list[dict[str, Any]]:
        """Jobs whose start_datetime is strictly between ``low`` and ``high`` (epoch ms), oldest first."""
        key_range = KeyRange(lower=low, lower_inclusive=False, upper=high, upper_inclusive=False)
        ids = self._table.keys("start_datetime", key_range)
        out = []
        for job_id in ids:
            record = self.get(job_id)
            if record is not None:
                out.append(record)
        return out

    def recover(self) -> int:
        """Jobs left IN_PROGRESS by a stopped or crashed server become ERROR; how many."""
        in_progress = KeyRange(equals=IN_PROGRESS, has_equals=True)
        ids = self._table.keys("status", in_progress)
        now = epoch_ms()
        changed = 0
        for job_id in ids:
            record = self._table.get(job_id)
            if record is None or record.get("status") != IN_PROGRESS or job_id in self._live:
                continue
            record.update(status=ERROR, message=INTERRUPTED, end_datetime=now)
            self._table.write([record], "upsert")
            changed += 1
        return changed
