"""The processes working on one store: ``system.hdb_process``, one record per live process.

A process registers at start, beats (rewrites its record with the time and the work it
runs) every ``cluster.heartbeat`` seconds on a thread of its own, and removes its record
when it stops gracefully. A record whose last beat is older than ``cluster.expiry``
seconds is a process that died (SIGKILL, a lost machine): it is not listed, and the next
beat of any process deletes it. Freshness is judged by each process's clock (keep the
machines' clocks in step, NTP, well within ``cluster.expiry``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo
from gateway.storage.system import SystemTable
from gateway.timestamps import iso_ms

PROCESS_TABLE = "hdb_process"
_ATTRIBUTES = (  # read whole (the table is small): no secondary index to rewrite at each beat
    AttributeInfo("id", True, "String"),
    AttributeInfo("host", False, "String"),
    AttributeInfo("pid", False, None),
    AttributeInfo("role", False, "String"),
    AttributeInfo("started", False, "Float"),
    AttributeInfo("beat", False, "Float"),
    AttributeInfo("running", False, None),
)

log = logging.getLogger("gateway.cluster")

Running = Callable[[], dict[str, list[str]]]
"""What this process runs now: ``{"batches": [...], "jobs": [...]}``."""


class ProcessRegistry:
    """This process's record in ``system.hdb_process`` and the records of the others."""

    def __init__(
        self,
        storage: Storage,
        running: Running,
        heartbeat: float,
        expiry: float,
        shared: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.heartbeat = max(0.05, heartbeat)
        self.expiry = max(self.heartbeat * 2, expiry)
        self.shared = shared
        """Whether other processes share the store (else only this one is answered, from memory)."""
        self._table = SystemTable(storage, PROCESS_TABLE, "id", _ATTRIBUTES) if shared else None
        self._running = running
        self._clock = clock
        self.id = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.role = ""
        self.started = 0.0
        self._beat = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "role": self.role,
            "started": self.started,
            "beat": self._beat,
            "running": self._running(),
        }

    def start(self, role: str) -> None:
        """Register as ``role`` (serve, web, worker) and beat until :meth:`stop`."""
        self.role = role
        self.started = self._beat = self._clock()
        if self._table is None:
            return
        self._table.write([self._record()], "upsert")
        self._thread = threading.Thread(target=self._beating, name="cluster-heartbeat", daemon=True)
        self._thread.start()

    def beat(self) -> None:
        """Rewrite this process's record now; delete the records of processes that died."""
        if self._table is None:
            return
        self._beat = self._clock()
        self._table.write([self._record()], "upsert")
        dead = [r["id"] for r in self._table.scan() if not self._fresh(r) and r["id"] != self.id]
        if dead:
            self._table.delete(dead)

    def _beating(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                self.beat()
            except Exception as exc:  # a store that is away for a while: beat again later
                log.warning("cluster heartbeat failed: %s", exc)

    def stop(self) -> None:
        """Stop beating and remove this process's record (a graceful stop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat + 10)
        if self._table is not None and self.started:
            try:
                self._table.delete([self.id])
            except Exception as exc:
                log.warning("could not remove this process from system.%s: %s", PROCESS_TABLE, exc)

    def _fresh(self, record: dict[str, Any]) -> bool:
        beat = record.get("beat")
        return isinstance(beat, int | float) and self._clock() - float(beat) <= self.expiry

    def alive(self) -> list[dict[str, Any]]:
        """The live processes (this one first), as ``cluster_status`` answers them."""
        if self._table is None:
            self._beat = self._clock()
            records = [self._record()]
        else:
            others = [r for r in self._table.scan() if self._fresh(r) and r["id"] != self.id]
            records = [self._record(), *others]  # this process as it is now, with its last beat
        records.sort(key=lambda r: (r["id"] != self.id, str(r.get("host")), float(r.get("started") or 0)))
        return [self._shown(r) for r in records]

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        running = record.get("running") if isinstance(record.get("running"), dict) else {}
        return {
            "id": record["id"],
            "host": record.get("host"),
            "pid": record.get("pid"),
            "role": record.get("role"),
            "started": iso_ms(float(record.get("started") or 0) * 1000.0),
            "last_heartbeat": iso_ms(float(record.get("beat") or 0) * 1000.0),
            "running": running,
            "this_process": record["id"] == self.id,
        }
