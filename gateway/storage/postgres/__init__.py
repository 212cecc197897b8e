"""The PostgreSQL backend: every storage port on one schema of a PostgreSQL database (psycopg 3)."""

from __future__ import annotations

import time

import psycopg

from gateway.storage.ports import Clock, Storage
from gateway.storage.postgres.backup import PgBackup
from gateway.storage.postgres.catalog import PgCatalog
from gateway.storage.postgres.chunks import PgChunkWrites
from gateway.storage.postgres.database import PgDatabase
from gateway.storage.postgres.imports import PgImportWrites
from gateway.storage.postgres.queue import PgTaskQueue, migrate_queue
from gateway.storage.postgres.records import PgRecords

__all__ = ["open_postgres"]


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
        closer=database.close,
        clock=clock,
        queue=PgTaskQueue(database, dsn, heartbeat, stalled),
    )
