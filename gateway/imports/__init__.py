"""The import family: models, control files, batches and their runs (haplo-import.md §1).

``install`` builds :class:`Imports`: the uploaded files (blobs), the model
registry, the batch service (the one place that changes a batch row) and the
runner that executes scheduled batches taken from the task queue. ``recover``
applies the restart rule: batches left ``running`` whose run is gone become
``error`` with an ``EXCEPTION:`` line (they are never silently re-run, because
records committed before the stop are kept), and on the embedded queue batches left
``scheduled`` are queued again (a shared queue keeps them). On a shared queue the
same check of running batches runs every ``jobs.heartbeat`` seconds, so a batch
whose worker died ends ``error`` while the other processes carry on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.audit import AuditLog
from gateway.config import Config
from gateway.imports.models import ModelRegistry
from gateway.imports.runner import CHECKPOINT_SECONDS, BatchRunner
from gateway.imports.service import BatchService
from gateway.jobs import SAVE_UNSAVED_SECONDS, Jobs
from gateway.storage.batch_errors import open_error_log
from gateway.storage.ports import BatchErrorLog, Blobs, Storage

log = logging.getLogger("gateway.imports")


@dataclass
class Imports:
    """Everything the batch import API, its operations and its admin pages use."""

    blobs: Blobs
    models: ModelRegistry
    batches: BatchService
    runner: BatchRunner
    errors: BatchErrorLog
    """Every error of every batch run (the log view and the reject files read it)."""

    def recover(self) -> None:
        """Fail batches whose run is gone; on the embedded queue, queue scheduled ones again."""
        requeued, failed = self.runner.recover()
        if requeued or failed:
            log.info(
                "batch recovery: %d scheduled batch(es) queued again, %d interrupted run(s) failed",
                requeued,
                failed,
            )


def install(config: Config, storage: Storage, audit: AuditLog, jobs: Jobs, blobs: Blobs) -> Imports:
    """The import family on this process's storage, files and scheduler (uploads left unfinished are removed)."""
    # One process alone uses the embedded store (its lock says so): whatever is unfinished is
    # dead. Where several share it, only leftovers untouched for a day are.
    removed = blobs.clean_temporary(stale_after=0.0) if storage.queue is None else blobs.clean_temporary()
    if removed:
        log.info("removed %d unfinished upload(s) left by a previous run", removed)
    models = ModelRegistry(storage, shared=storage.queue is not None)
    batches = BatchService(storage, blobs, models, jobs.queue, bool(config.get("import.check_file_names")))
    errors = open_error_log(storage)
    runner = BatchRunner(config, storage, audit, jobs, batches, blobs, models, errors)
    jobs.scheduler.every("batches:save-unsaved", SAVE_UNSAVED_SECONDS, batches.save_unsaved)
    jobs.scheduler.every("batches:progress", CHECKPOINT_SECONDS, runner.save_progress)
    if jobs.queue.durable:
        jobs.scheduler.every("batches:lost", jobs.lost_check_seconds, runner.fail_lost)
    return Imports(blobs, models, batches, runner, errors)
