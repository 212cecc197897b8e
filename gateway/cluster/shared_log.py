"""Log entries of every process on a shared store: ``system.hdb_log``, which read_log reads.

On a store several processes share (PostgreSQL, with ``logging.shared``), each process's
log entries also go to ``system.hdb_log`` with its host and pid, so that read_log on any
gateway returns the entries of every gateway and worker. A log call only appends the entry
to an in-memory buffer (a few microseconds: ``bench/shared_log.py``); a thread of the
process writes the buffer to the store every :data:`FLUSH_SECONDS` (read_log writes its own
process's buffer first). read_log answers HarperDB's shape, ``{timestamp, thread, level, tags,
message}``, the entry's process in two more tags: ``host:<name>`` and ``pid:<n>``. The table is bounded: the newest ``logging.keep_entries`` entries
are kept, none older than ``logging.keep_days`` days, pruned every :data:`PRUNE_SECONDS`.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from gateway.logs import record_entry
from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.system import SYSTEM_DB, SystemTable
from gateway.timestamps import iso_ms

LOG_TABLE = "hdb_log"
FLUSH_SECONDS = 0.5
PRUNE_SECONDS = 60.0
BUFFER_ENTRIES = 10_000
"""Entries a process holds while the store cannot take them; older ones are then dropped."""
_CHUNK = 500
_ATTRIBUTES = (
    AttributeInfo("id", True, "String"),
    AttributeInfo("timestamp", True, "String"),
    AttributeInfo("thread", False, None),
    AttributeInfo("level", False, "String"),
    AttributeInfo("tags", False, None),
    AttributeInfo("message", False, None),
    AttributeInfo("host", False, "String"),
    AttributeInfo("pid", False, None),
)
_SHOWN = ("timestamp", "thread", "level", "tags", "message")


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """A stored entry in read_log's shape: its process as two more tags, ``host:<name>`` and ``pid:<n>``."""
    entry = {name: record.get(name) for name in _SHOWN}
    tags = entry["tags"] if isinstance(entry["tags"], list) else []
    entry["tags"] = [*tags, f"host:{record.get('host')}", f"pid:{record.get('pid')}"]
    return entry


class SharedLog(logging.Handler):
    """A logging handler that buffers entries and writes them to ``system.hdb_log``; and their reader."""

    def __init__(self, storage: Storage, host: str, pid: int, keep_entries: int, keep_days: float) -> None:
        super().__init__()
        self._storage = storage
        self._table = SystemTable(storage, LOG_TABLE, "id", _ATTRIBUTES)
        self._host, self._pid = host, pid
        self.keep_entries = max(1, keep_entries)
        self.keep_days = keep_days
        self._buffer: collections.deque[dict[str, Any]] = collections.deque(maxlen=BUFFER_ENTRIES)
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned = 0.0
        self._ids = itertools.count()
        self._prefix = uuid.uuid4().hex[:16] + "-"  # this process's ids: the prefix and a counter
        self._complained = False
        self.dropped = 0
        """Entries pushed out of a full buffer since the last write (a warning entry then says how many)."""

    # -- writing ----------------------------------------------------------------------------

    def _entry(self, record: logging.LogRecord) -> dict[str, Any]:
        entry = record_entry(record)
        entry["id"] = self._prefix + str(next(self._ids))
        entry["host"], entry["pid"] = self._host, self._pid
        return entry

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = self._entry(record)
            with self._buffer_lock:
                if len(self._buffer) == BUFFER_ENTRIES:
                    self.dropped += 1  # the deque pushes the oldest out
                self._buffer.append(entry)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)

    def flush(self) -> None:
        """Write the buffered entries to the store (kept for the next try if it fails)."""
        with self._write_lock:
            with self._buffer_lock:
                entries = list(self._buffer)
                self._buffer.clear()
                dropped, self.dropped = self.dropped, 0
            if dropped:
                message = f"{dropped} log entries were not shared: they came faster than the store took them"
                notice = logging.LogRecord("gateway.logs", logging.WARNING, __file__, 0, message, None, None)
                entries.insert(0, self._entry(notice))
            if not entries:
                return
            try:
                self._table.write(entries, "insert")
            except Exception as exc:
                with self._buffer_lock:  # kept for the next try, the newest BUFFER_ENTRIES at most
                    kept = [*entries, *self._buffer][-BUFFER_ENTRIES:]
                    self._buffer.clear()
                    self._buffer.extend(kept)
                self._complain(exc)
            else:
                self._complained = False

    def _complain(self, exc: Exception) -> None:
        """One notice on stderr (not the log: that would feed this handler) until a write works."""
        if not self._complained:
            self._complained = True
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"gateway: log entries are not shared for now: {exc}\n")

    def prune(self, now: float | None = None) -> int:
        """Delete entries older than ``keep_days`` and the oldest beyond ``keep_entries``; how many."""
        now = time.time() if now is None else now
        removed = 0
        if self.keep_days > 0:
            cutoff = iso_ms((now - self.keep_days * 86400.0) * 1000.0)
            old = self._table.keys("timestamp", KeyRange(upper=cutoff, upper_inclusive=False))
            removed += self._delete(old)
        excess = self._storage.catalog.count(SYSTEM_DB, LOG_TABLE) - self.keep_entries
        if excess > 0:
            keys = self._storage.records.index_keys(SYSTEM_DB, LOG_TABLE, "timestamp", KeyRange())
            removed += self._delete(list(islice(keys, excess)))
        return removed

    def _delete(self, keys: list[Any]) -> int:
        removed = 0
        for start in range(0, len(keys), _CHUNK):
            removed += len(self._table.delete(keys[start : start + _CHUNK]).written)
        return removed

    def _flushing(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()
            if time.monotonic() - self._pruned >= PRUNE_SECONDS:
                self._pruned = time.monotonic()
                try:
                    self.prune()
                except Exception as exc:
                    self._complain(exc)

    def start(self, logger: logging.Logger) -> None:
        """Take ``logger``'s entries (at its level) and write them out every FLUSH_SECONDS."""
        logger.addHandler(self)
        self._thread = threading.Thread(target=self._flushing, name="shared-log", daemon=True)
        self._thread.start()

    def stop(self, logger: logging.Logger) -> None:
        """Take no more entries; write what is buffered."""
        logger.removeHandler(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    # -- reading ----------------------------------------------------------------------------

    def entries(self, since: str | None, until: str | None, descending: bool) -> Iterator[dict[str, Any]]:
        """Every process's entries between ``since`` and ``until`` (ISO times, inclusive), in time order
        (newest first with ``descending``); this process's buffer is written first."""
        self.flush()
        keys = self._table.keys("timestamp", KeyRange(lower=since, upper=until))
        if descending:
            keys.reverse()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            for record in self._storage.records.get_many(SYSTEM_DB, LOG_TABLE, chunk):
                if record is not None:
                    yield shown(record)
