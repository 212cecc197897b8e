"""Cost of one log call with and without the shared log (``system.hdb_log`` on PostgreSQL).

Opens a PostgreSQL store in a fresh schema, then times ``logging.getLogger("gateway.bench").info``
with the local JSON-lines file handler only, and with the shared log's handler added (and its
flusher thread writing to the store every 0.5 s meanwhile: a tight loop of log calls then
shares the interpreter with the writer), in the same run; and the handler alone (entries
buffered, not written), which is what a calling thread pays. The calls run in blocks, the
modes alternating, and the best block of each mode counts (a machine busy with other work
slows every mode alike). Printed: µs per call of each, the ratio to the file only, and
the time the last buffer took to be written at stop.

    python bench/shared_log.py                  # 20000 calls
    python bench/shared_log.py --calls 100000 --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
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
    parser.add_argument("--calls", type=int, default=20_000, help="log calls per mode")
    parser.add_argument("--rounds", type=int, default=10, help="blocks the calls are split into")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    args = parser.parse_args()
    schema = "bench_log_" + uuid.uuid4().hex[:8]
    storage = open_postgres(args.dsn, schema=schema)
    gateway_logger = logging.getLogger("gateway")
    logger = logging.getLogger("gateway.bench")
    block = max(100, args.calls // args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        file_handler = configure_logging(Path(tmp), "info")
        shared = SharedLog(storage, socket.gethostname(), os.getpid(), keep_entries=10**7, keep_days=0)
        local: list[float] = []
        buffered: list[float] = []
        with_writer: list[float] = []
        try:
            per_call(logger, 1000)  # warm up
            for _ in range(args.rounds):  # alternating blocks: a busy machine slows both alike
                local.append(per_call(logger, block))
                gateway_logger.addHandler(shared)  # the handler alone: what the calling thread pays
                buffered.append(per_call(logger, block))
                gateway_logger.removeHandler(shared)
                shared.flush()
            shared.start(gateway_logger)
            try:
                for _ in range(args.rounds):
                    with_writer.append(per_call(logger, block))
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
    best_local, best_buffered, best_writer = min(local), min(buffered), min(with_writer)
    print(f"log calls: {args.rounds} blocks of {block} per mode; the best block of each (median in brackets)")
    print(
        f"file only:                             {best_local:8.2f} µs/call  ({statistics.median(local):.2f})"
    )
    print(
        f"file + shared buffer only (no writer): {best_buffered:8.2f} µs/call  ({statistics.median(buffered):.2f})"
        f"  ratio {best_buffered / best_local:.2f}"
    )
    print(
        f"file + shared table (writer running):  {best_writer:8.2f} µs/call  ({statistics.median(with_writer):.2f})"
        f"  ratio {best_writer / best_local:.2f}"
    )
    print(f"entries stored: {stored}; the last buffer written in {drained * 1000:.0f} ms at stop")


if __name__ == "__main__":
    main()
