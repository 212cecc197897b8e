"""APScheduler wrapper: background work (batch runs, bulk jobs) on a small pool.

The scheduler keeps jobs in memory; the tables that describe the work (batches,
jobs) are the source of truth and are re-queued by each family's recovery at
startup. ``stopping`` lets running work stop at a record boundary on shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("gateway.jobs")


class JobRunner:
    """Runs callables in the background, one APScheduler job per piece of work."""

    def __init__(self, threads: int = 2) -> None:
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max(1, threads))},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        self.scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def submit(self, job_id: str, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` as soon as a worker is free, under APScheduler id ``job_id``."""
        self.scheduler.add_job(
            _guarded,
            trigger="date",
            run_date=datetime.now(UTC),
            args=(job_id, func, *args),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    def every(self, job_id: str, seconds: float, func: Callable[[], Any]) -> None:
        """Run ``func()`` every ``seconds`` (housekeeping), under APScheduler id ``job_id``."""
        self.scheduler.add_job(
            _guarded,
            trigger="interval",
            seconds=seconds,
            args=(job_id, func),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    def shutdown(self) -> None:
        """Ask running work to stop at a record boundary, then wait for it.

        The scheduler is paused and emptied first: ``remove_all_jobs`` waits for a job
        submission in progress to finish, so APScheduler's own removal of that one-shot
        job does not meet a stopped scheduler (``JobLookupError`` in its thread). Work not
        started yet is dropped here as the shutdown would drop it; each family re-queues
        its own at the next start.
        """
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()
            self.scheduler.remove_all_jobs()
            self.scheduler.shutdown(wait=True)


def _guarded(job_id: str, func: Callable[..., Any], *args: Any) -> None:
    try:
        func(*args)
    except Exception:  # a job must never kill the worker; it records its own failure
        log.exception("background job %s failed", job_id)
