"""Cost of one log call with and without the shared log (``system.hdb_log`` on PostgreSQL).

Opens a PostgreSQL store in a fresh schema, then times ``logging.getLogger("gateway.bench").info``
with the local JSON-lines file handler only, and with the shared log's handler added (and its
flusher thread writing to the store every 0.5 s meanwhile: a tight loop of log calls then
shares the interpreter with the writer), in the same run; and the handler alone (entries
buffered, not written), which is what a calling thread pays. Printed: µs per call of each,
their ratio to the file only, and the time the last buffer took to be written at stop.

    python bench/shared_log.py                  # 20000 calls
    python bench/shared_log.py --calls 100000 --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.cluster.shared_log import LOG_TABLE, SharedLog  # noqa: E402
from gateway.logs import configure_logging  # noqa: E402
from gateway.storage.postgres import open_postgres  # noqa: E402

DEFAULT_DSN = os.environ.get("GATEWAY_TEST_POSTGRES_DSN") or "postgresql://postgres@127.0.0.1:5432/postgres"


def per_call(logger: logging.Logger, calls: int) -> float:
    """µs per ``logger.info`` call (a formatted message, as the gateway's lines are)."""
    started = time.perf_counter()
    for n in range(calls):
        logger.info("batch %s: %d record(s) done", "bench", n)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    args = parser.parse_args()
    schema = "bench_log_" + uuid.uuid4().hex[:8]
    storage = open_postgres(args.dsn, schema=schema)
    gateway_logger = logging.getLogger("gateway")
    logger = logging.getLogger("gateway.bench")
    with tempfile.TemporaryDirectory() as tmp:
        file_handler = configure_logging(Path(tmp), "info")
        try:
            per_call(logger, 1000)  # warm up
            local = per_call(logger, args.calls)
            shared = SharedLog(storage, socket.gethostname(), os.getpid(), keep_entries=10**7, keep_days=0)
            gateway_logger.addHandler(shared)  # the handler alone: what the calling thread pays
            buffered = per_call(logger, args.calls)
            gateway_logger.removeHandler(shared)
            shared.flush()
            shared.start(gateway_logger)
            try:
                with_shared = per_call(logger, args.calls)
            finally:
                started = time.perf_counter()
                shared.stop(gateway_logger)
                drained = time.perf_counter() - started
            stored = storage.catalog.count("system", LOG_TABLE)
        finally:
            gateway_logger.removeHandler(file_handler)
            storage.close()
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"log calls: {args.calls}")
    print(f"file only:                             {local:8.2f} µs/call")
    print(f"file + shared buffer only (no writer): {buffered:8.2f} µs/call  (ratio {buffered / local:.2f})")
    print(
        f"file + shared table (writer running):  {with_shared:8.2f} µs/call  (ratio {with_shared / local:.2f})"
    )
    print(f"entries stored: {stored}; the last buffer written in {drained * 1000:.0f} ms at stop")


if __name__ == "__main__":
    main()
