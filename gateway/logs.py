"""Process logging: a JSON-lines log file under the root that read_log reads back.

A line is written whole or not at all. While the device is full (ENOSPC, EDQUOT)
lines are dropped and counted, with one notice on stderr, and requests carry on;
the first line written once there is space again is preceded by a ``warning`` line
saying how many were dropped (``N log line(s) were dropped: no space left on the
device (logs store)``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

LOG_FILE = "gateway.log"
NO_SPACE = "no space left on the device (logs store)"
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def log_entry(created: float, thread: str | None, level: str, tag: str, message: str) -> dict[str, Any]:
    """One entry as read_log answers it: ``{timestamp, thread, level, tags, message}``."""
    return {
        "timestamp": datetime.fromtimestamp(created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "thread": thread,
        "level": level,
        "tags": [tag],
        "message": message,
    }


def record_entry(record: logging.LogRecord) -> dict[str, Any]:
    """A logging record as a log entry."""
    return log_entry(
        record.created, record.threadName, record.levelname.lower(), record.name, record.getMessage()
    )


def _line(created: float, thread: str | None, level: str, tag: str, message: str) -> bytes:
    return orjson.dumps(log_entry(created, thread, level, tag, message)) + b"\n"


def append_whole(path: Path, data: bytes) -> bool:
    """Append ``data`` to ``path``; False, with nothing appended, when the device is full."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in _NO_SPACE_ERRNOS:
            return False
        raise
    try:
        start = os.fstat(fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            if exc.errno not in _NO_SPACE_ERRNOS:
                raise
            os.ftruncate(fd, start)  # no half line
            return False
    finally:
        os.close(fd)
    return True


class JsonLinesHandler(logging.Handler):
    """Writes ``{timestamp, thread, level, tags, message}`` lines, as HarperDB's read_log returns."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.dropped = 0  # lines lost to a full device since the last one written
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = orjson.dumps(record_entry(record)) + b"\n"
            with self._lock:
                if self.dropped:
                    notice = f"{self.dropped} log line(s) were dropped: {NO_SPACE}"
                    line = _line(time.time(), record.threadName, "warning", "gateway.logs", notice) + line
                if append_whole(self.path, line):
                    self.dropped = 0
                    return
                if not self.dropped:
                    with contextlib.suppress(OSError, ValueError):
                        sys.stderr.write(f"gateway: {NO_SPACE}: log lines are dropped until there is space\n")
                self.dropped += 1
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


def configure_logging(log_dir: Path, level: str) -> JsonLinesHandler:
    """Attach the JSON-lines handler to the ``gateway`` logger (idempotent per directory)."""
    logger = logging.getLogger("gateway")
    logger.setLevel(level.upper())
    path = log_dir / LOG_FILE
    for handler in logger.handlers:
        if isinstance(handler, JsonLinesHandler) and handler.path == path:
            return handler
    handler = JsonLinesHandler(path)
    logger.addHandler(handler)
    return handler
