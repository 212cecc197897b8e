"""Settling a table after a bulk load: its column families compacted in a background thread.

A bulk load leaves level-0 files (flushed uncompressed) beside the compressed bottom
level; with fewer files than the compaction trigger they would stay as they are.
Compacting the table's record and index column families once the load ends rewrites
them into the bottom level (LZ4): a default table of 1M rows went from ~280 MB on disk
to ~120 MB (``bench/bulk.py``; zstd at the bottom level would save ~8 MB more for about
twice the compaction CPU, which a load running beside compactions would pay). Then every memtable is flushed, so that no write-ahead log file is
kept only because a small column family (a system table) still has entries in it.

One thread works the tables asked for, one at a time, and exits when none is left;
RocksDB's compaction runs without the GIL. ``close`` waits for the column family being
compacted, so the store is never closed under it. A compaction that fails (the table
was dropped meanwhile, the device is full) is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gateway.storage")


class Settler:
    """Compacts the column families named by ``settle`` in a background thread."""

    def __init__(
        self, open_cf: Callable[[str], Any], release_cf: Callable[[Any], None], flush: Callable[[], None]
    ) -> None:
        self._open_cf = open_cf
        self._release_cf = release_cf
        self._flush = flush
        self._lock = threading.Lock()
        self._pending: dict[str, None] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def settle(self, cf_names: list[str]) -> None:
        """Compact these column families soon (each once, however often asked before it starts)."""
        with self._lock:
            if self._closed:
                return
            self._pending.update(dict.fromkeys(cf_names))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rocksdb-settle", daemon=True)
                self._thread.start()

    def wait(self) -> None:
        """Return once every column family asked for is compacted."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def close(self) -> None:
        """Stop after the column family being compacted; nothing more is started."""
        with self._lock:
            self._closed = True
            self._pending.clear()
        self.wait()

    def _next(self) -> str | None:
        with self._lock:
            if self._closed or not self._pending:
                self._thread = None
                return None
            name = next(iter(self._pending))
            del self._pending[name]
            return name

    def _run(self) -> None:
        compacted = False
        while (name := self._next()) is not None:
            compacted = self._compact(name) or compacted
            if compacted and not self._pending:
                self._flush_quietly()
                compacted = False

    def _compact(self, name: str) -> bool:
        try:
            cf = self._open_cf(name)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises a bare Exception; the family is gone
            log.debug("column family %s not settled: %s", name, exc)
            return False
        try:
            cf.compact_range(None, None)
            return True
        except Exception as exc:  # noqa: BLE001 - dropped meanwhile, or no space: the files stay as they are
            log.warning("column family %s not compacted after a bulk load: %s", name, exc)
            return False
        finally:
            try:
                self._release_cf(cf)  # never a flush of this one family alone mid-load (database.py)
            except Exception as exc:  # noqa: BLE001 - a dropped family cannot flush; nothing to keep
                log.debug("column family %s released without a flush: %s", name, exc)

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except Exception as exc:  # noqa: BLE001 - the write-ahead log files stay until the next flush
            log.warning("memtables not flushed after settling a bulk load: %s", exc)
