"""Process logging: a JSON-lines log file under the root that read_log reads back."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson

LOG_FILE = "gateway.log"


class JsonLinesHandler(logging.Handler):
    """Writes ``{timestamp, thread, level, tags, message}`` lines, as HarperDB's read_log returns."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {
                "timestamp": datetime.fromtimestamp(record.created, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "thread": record.threadName,
                "level": record.levelname.lower(),
                "tags": [record.name],
                "message": record.getMessage(),
            }
            line = orjson.dumps(entry) + b"\n"
            with self._lock, self.path.open("ab") as fh:
                fh.write(line)
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
