"""The embedded task queue: work runs on this process's scheduler threads, kept in memory only.

For a store that has no shared queue (the embedded RocksDB store, which one process
owns). A change and its enqueue are one step under this process's lock: the record is
written, then the work handed to the scheduler. Nothing survives the process: at start,
each family queues again what its table says is waiting and fails what was running
(``durable`` is False), which is what makes the pair safe across a crash.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gateway.jobs.scheduler import JobRunner
from gateway.storage.ports import Records, Storage
from gateway.storage.queue import Args, Change, Postponed, Run
from gateway.storage.system import SYSTEM_DB

log = logging.getLogger("gateway.jobs")


class EmbeddedQueue:
    """The :class:`gateway.storage.queue.TaskQueue` of a single process."""

    durable = False

    def __init__(self, storage: Storage, scheduler: JobRunner) -> None:
        self._records: Records = storage.records
        self._scheduler = scheduler
        self._tasks: dict[str, Run] = {}
        self._lock = threading.RLock()
        self._alive: dict[str, set[str]] = {}
        self._started = False

    def register(self, task: str, run: Run) -> None:
        self._tasks[task] = run

    def enqueue(self, task: str, key: str, args: Args, change: Change | None = None) -> bool:
        if task not in self._tasks:
            raise KeyError(f"no task {task!r} is registered")
        with self._lock:
            if change is not None and self._apply(change) is None:
                return False
            self._alive.setdefault(task, set()).add(key)
        self._scheduler.submit(f"{task}:{key}", self._run, task, key, args)
        return True

    def change(self, change: Change) -> dict[str, Any] | None:
        with self._lock:
            return self._apply(change)

    def _apply(self, change: Change) -> dict[str, Any] | None:
        stored = self._records.get(SYSTEM_DB, change.table, change.key)
        new = change.apply(stored)
        if new is None:
            return None
        self._records.write(SYSTEM_DB, change.table, [new], "replace")
        return new

    def _run(self, task: str, key: str, args: Args) -> None:
        try:
            self._tasks[task](key, args)
        except Postponed:
            log.info("%s %s left for the next start: the server is stopping", task, key)
        finally:
            with self._lock:
                self._alive.get(task, set()).discard(key)

    def alive(self, task: str) -> set[str]:
        with self._lock:
            return set(self._alive.get(task, ()))

    def start(self, concurrency: int) -> None:
        """Work runs on the scheduler's threads (``jobs.threads``) once the scheduler is started."""
        self._started = True

    @property
    def working(self) -> bool:
        return self._started and self._scheduler.running

    def stop(self) -> None:
        """Nothing to wait for here: the scheduler's shutdown waits for running work."""
        self._started = False
