"""The PostgreSQL backend: every storage port on one schema of a PostgreSQL database (psycopg 3)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from gateway.storage.errors import StoreUnavailable
from gateway.storage.ports import Clock, Storage
from gateway.storage.postgres.backup import PgBackup
from gateway.storage.postgres.catalog import PgCatalog
from gateway.storage.postgres.chunks import PgChunkWrites
from gateway.storage.postgres.database import CONNECT_TIMEOUT, PgDatabase, describe
from gateway.storage.postgres.imports import PgImportWrites
from gateway.storage.postgres.queue import PgTaskQueue, migrate_queue
from gateway.storage.postgres.records import PgRecords
from gateway.storage.postgres.txlog import PgTransactionLog

__all__ = ["open_postgres", "postgres_store_exists"]


def postgres_store_exists(dsn: str, schema: str = "gateway") -> bool:
    """Whether the store's ``schema`` exists in the database ``dsn`` names (nothing is created).

    StoreUnavailable naming host and database when the server cannot be reached.
    """
    options: dict[str, Any] = {"autocommit": True, "application_name": "gateway"}
    if "connect_timeout" not in conninfo_to_dict(dsn):
        options["connect_timeout"] = CONNECT_TIMEOUT
    try:
        with psycopg.connect(dsn, **options) as conn:
            row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    except psycopg.Error as exc:
        raise StoreUnavailable(f"{describe(dsn)} cannot be reached ({type(exc).__name__})") from exc
    return row is not None


def open_postgres(
    dsn: str,
    clock: Clock = time.time,
    *,
    schema: str = "gateway",
    pool_size: int = 10,
    timeout: float = 10.0,
    heartbeat: float = 10.0,
    stalled: float = 30.0,
) -> Storage:
    """Open the store in ``schema`` of the database ``dsn`` names, creating or upgrading its tables
    and its job queue's (procrastinate's).

    ``pool_size``: connections at most; ``timeout``: seconds a port call waits for one.
    ``heartbeat``: seconds between a worker's beats; ``stalled``: seconds without a beat
    after which a worker counts as dead. An unreachable server or a refused login raises
    StoreUnavailable naming host and database (never the password).
    """
    database = PgDatabase(dsn, clock, schema, pool_size, timeout)
    try:
        with database.connection() as conn:
            migrate_queue(conn, schema)
    except psycopg.Error as exc:
        database.close()
        raise database.translate(exc) from exc
    except BaseException:
        database.close()
        raise
    return Storage(
        backend="postgres",
        catalog=PgCatalog(database),
        records=PgRecords(database),
        imports=PgImportWrites(database),
        chunks=PgChunkWrites(database),
        backup=PgBackup(database),
        txlog=PgTransactionLog(database),
        closer=database.close,
        clock=clock,
        queue=PgTaskQueue(database, dsn, heartbeat, stalled),
    )
