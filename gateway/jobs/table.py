"""Job records in ``system.hdb_job`` (HarperDB's job fields plus ``progress``).

A job is written when it is created (IN_PROGRESS, with its queued work), when it
starts (once: a job whose start is recorded is never started again) and when it
ends (COMPLETE or ERROR). While it runs, ``get_job`` in the process running it
reads its live progress from memory. Jobs still IN_PROGRESS whose work the task
queue no longer has alive were cut short by a stop, a crash or a dead worker and
become ERROR (``recover``).

A job that ends while its end cannot be stored (a full device) stays in memory
with its status and message, so ``get_job`` shows it at once, and is stored by
``save_unsaved`` once the store takes writes again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.jobs.progress import Progress
from gateway.storage.errors import OutOfSpace
from gateway.storage.ports import Storage
from gateway.storage.queue import Change, TaskQueue
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

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        """The job a stored record describes (progress starts afresh)."""
        return cls(
            id=str(record["id"]),
            type=str(record.get("type")),
            user=str(record.get("user")),
            created_datetime=int(record.get("created_datetime") or 0),
            job_body=dict(record.get("job_body") or {}),
            status=str(record.get("status")),
            message=record.get("message"),
            start_datetime=record.get("start_datetime"),
            end_datetime=record.get("end_datetime"),
            result=record.get("result"),
        )

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
    """Creates, updates and finds job records; keeps the jobs this process runs in memory."""

    def __init__(self, storage: Storage, queue: TaskQueue) -> None:
        self._queue = queue
        self._table = SystemTable(
            storage,
            JOB_TABLE,
            "id",
            [AttributeInfo("status", True, None), AttributeInfo("start_datetime", True, None)],
        )
        self._live: dict[str, Job] = {}
        self._lock = threading.Lock()

    @staticmethod
    def new(job_type: str, user: str, body: dict[str, Any]) -> Job:
        """A new IN_PROGRESS job (stored with its queued work by the job service)."""
        return Job(str(uuid.uuid4()), job_type, user, epoch_ms(), body)

    def begin(self, job_id: str, should_stop: Callable[[], bool]) -> Job | None:
        """Record the start of a waiting job (once) and keep it in memory while it runs; the job,
        or None if it is not waiting (ended, or started before by a worker that died)."""
        now = epoch_ms()

        def start(stored: dict[str, Any] | None) -> dict[str, Any] | None:
            if stored is None or stored.get("status") != IN_PROGRESS or stored.get("start_datetime"):
                return None
            return {**stored, "start_datetime": now}

        record = self._queue.change(Change(JOB_TABLE, job_id, start))
        if record is None:
            return None
        job = Job.from_record(record)
        job.progress.should_stop = should_stop
        with self._lock:
            self._live[job.id] = job
        return job

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

    def recover(self, alive: Callable[[], set[str]]) -> int:
        """Jobs left IN_PROGRESS whose work is not ``alive()`` (read after them) become ERROR; how many."""
        in_progress = KeyRange(equals=IN_PROGRESS, has_equals=True)
        ids = [job_id for job_id in self._table.keys("status", in_progress) if isinstance(job_id, str)]
        if not ids:
            return 0
        living = alive()
        now = epoch_ms()

        def interrupted(stored: dict[str, Any] | None) -> dict[str, Any] | None:
            if stored is None or stored.get("status") != IN_PROGRESS:
                return None
            return {**stored, "status": ERROR, "message": INTERRUPTED, "end_datetime": now}

        changed = 0
        for job_id in ids:
            if job_id in living or job_id in self._live:
                continue
            if self._queue.change(Change(JOB_TABLE, job_id, interrupted)) is not None:
                changed += 1
        return changed
