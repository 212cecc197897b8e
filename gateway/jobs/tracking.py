"""A task queue that knows which pieces of work this process is running right now.

:class:`TrackedQueue` wraps the process's :class:`~gateway.storage.queue.TaskQueue` (the
store's shared one or the embedded one): every task's function is wrapped at
``register`` so that its key is listed by :meth:`TrackedQueue.running` while it runs
here. ``cluster_status`` reports it for each process. ``observers`` are told when a
task's run begins and ends here (the metrics family counts work with them).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from gateway.storage.queue import Args, Change, Run, TaskQueue

log = logging.getLogger("gateway.jobs")

Observer = Callable[[str, str, bool], None]
"""``(task, key, began)``: ``began`` True as a run starts here, False once it has returned or raised."""


class TrackedQueue:
    """:class:`TaskQueue` that delegates everything and records the keys it runs."""

    def __init__(self, inner: TaskQueue) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._running: dict[str, Counter[str]] = {}
        self.observers: list[Observer] = []

    @property
    def durable(self) -> bool:
        return self._inner.durable

    @property
    def working(self) -> bool:
        return self._inner.working

    def register(self, task: str, run: Run) -> None:
        def tracked(key: str, args: Args) -> None:
            with self._lock:
                self._running.setdefault(task, Counter())[key] += 1
            self._tell(task, key, True)
            try:
                run(key, args)
            finally:
                with self._lock:
                    counts = self._running[task]
                    counts[key] -= 1
                    if counts[key] <= 0:
                        del counts[key]
                self._tell(task, key, False)

        self._inner.register(task, tracked)

    def _tell(self, task: str, key: str, began: bool) -> None:
        for observer in list(self.observers):
            try:
                observer(task, key, began)
            except Exception:  # an observer never changes the work's outcome
                log.exception("task observer failed for %s %s", task, key)

    def running(self) -> dict[str, list[str]]:
        """Task name → the keys of its work running in this process now (sorted)."""
        with self._lock:
            return {task: sorted(keys) for task, keys in self._running.items() if keys}

    def enqueue(self, task: str, key: str, args: Args, change: Change | None = None) -> bool:
        return self._inner.enqueue(task, key, args, change)

    def change(self, change: Change) -> dict[str, Any] | None:
        return self._inner.change(change)

    def alive(self, task: str) -> set[str]:
        return self._inner.alive(task)

    def start(self, concurrency: int) -> None:
        self._inner.start(concurrency)

    def stop(self) -> None:
        self._inner.stop()
