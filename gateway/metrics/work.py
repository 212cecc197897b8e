"""Counting batch runs and bulk jobs: an observer of the task queue that reads each run's outcome.

A run that returns without reaching an end state (postponed by a stop, or not waiting to
start) is not counted at all. Records imported are the batch summary's
``records_committed`` and a load job's ``records_done`` (exports are not imports).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.imports.service import END_STATES, RUN_TASK
from gateway.jobs.service import BULK_TASK
from gateway.jobs.table import COMPLETE, ERROR
from gateway.metrics.recorder import Recorder

Lookup = Callable[[str], dict[str, Any] | None]


class WorkObserver:
    """``TrackedQueue`` observer: ``(task, key, began)`` → the recorder's work counters."""

    def __init__(self, recorder: Recorder, batch: Lookup, job: Lookup) -> None:
        self._recorder = recorder
        self._batch = batch
        self._job = job

    def __call__(self, task: str, key: str, began: bool) -> None:
        if began or task not in (RUN_TASK, BULK_TASK):
            return
        if task == RUN_TASK:
            row = self._batch(key)
            if row is None or row.get("state") not in END_STATES:
                return
            summary = row.get("summary") or {}
            committed = summary.get("records_committed") if isinstance(summary, dict) else 0
            self._count("batch", row.get("state") == "error", committed)
            return
        record = self._job(key)
        if record is None or record.get("status") not in (COMPLETE, ERROR):
            return
        progress = record.get("progress") or {}
        done = progress.get("records_done") if isinstance(progress, dict) else 0
        if str(record.get("type", "")).startswith("export"):
            done = 0
        self._count("job", record.get("status") == ERROR, done)

    def _count(self, kind: str, failed: bool, records: Any) -> None:
        self._recorder.work_started(kind)
        self._recorder.work_ended(kind, failed, records if isinstance(records, int) else 0)
