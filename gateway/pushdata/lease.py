"""One push at a time per model database, across every process on a shared store.

In a process, a lock per database. Where several processes share the store (its task queue is
``durable``), the holder also takes a lease: a record of ``system.hdb_push_lease`` keyed by the
database, written by the queue's atomic read-modify-write (``TaskQueue.change``) only when no
other holder has an unexpired lease. A holder that died leaves a lease that others take over
once it expires (``ttl`` seconds, by the store's clock). Waiting is bounded (``wait`` seconds).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Final

from gateway.storage.ports import Storage
from gateway.storage.queue import Change, TaskQueue
from gateway.storage.system import SystemTable

TABLE: Final = "hdb_push_lease"
POLL_SECONDS: Final = 0.02


class LeaseBusy(Exception):
    """Another process held the database's lease for longer than the wait allows."""


class PushLeases:
    """``hold(database)``: a context in which this thread alone, of every process, pushes to ``database``."""

    def __init__(self, storage: Storage, queue: TaskQueue, ttl: float = 120.0, wait: float = 60.0) -> None:
        self._storage = storage
        self._queue = queue
        self._shared = queue.durable
        if self._shared:
            SystemTable(storage, TABLE, "id")  # created once, before any change names it
        self._ttl_ms = ttl * 1000.0
        self._wait = wait
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, database: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(database, threading.Lock())

    @contextlib.contextmanager
    def hold(self, database: str) -> Iterator[None]:
        """Hold ``database``'s lock (and, on a shared store, its lease) for the block."""
        lock = self._lock(database)
        if not lock.acquire(timeout=self._wait):
            raise LeaseBusy(f"pushes to {database} are busy: retry later")
        try:
            if not self._shared:
                yield
                return
            token = self._take(database)
            try:
                yield
            finally:
                self._queue.change(Change(TABLE, database, lambda cur: _released(cur, token)))
        finally:
            lock.release()

    def _take(self, database: str) -> str:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self._wait

        def take(current: dict[str, Any] | None) -> dict[str, Any] | None:
            now = self._storage.now_ms()
            if current is not None and current.get("holder") and float(current.get("expires") or 0) > now:
                return None  # held by another, unexpired
            return {"id": database, "holder": token, "expires": now + self._ttl_ms}

        while True:
            stored = self._queue.change(Change(TABLE, database, take))
            if stored is not None and stored.get("holder") == token:
                return token
            if time.monotonic() >= deadline:
                raise LeaseBusy(f"pushes to {database} are busy in another process: retry later")
            time.sleep(POLL_SECONDS)


def _released(current: dict[str, Any] | None, token: str) -> dict[str, Any] | None:
    """The lease freed, if this holder still has it."""
    if current is None or current.get("holder") != token:
        return None
    return {**current, "holder": None, "expires": 0}
