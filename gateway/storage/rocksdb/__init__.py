"""The embedded backend: every storage port on one RocksDB directory (rocksdict)."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.storage.ports import Clock, Storage
from gateway.storage.rocksdb.backup import RocksBackup
from gateway.storage.rocksdb.catalog import RocksCatalog
from gateway.storage.rocksdb.chunks import RocksChunkWrites
from gateway.storage.rocksdb.database import RocksDatabase
from gateway.storage.rocksdb.imports import RocksImportWrites
from gateway.storage.rocksdb.records import RocksRecords
from gateway.storage.rocksdb.txlog import RocksTransactionLog

__all__ = ["open_rocksdb"]


def open_rocksdb(path: str | Path, clock: Clock = time.time, unlogged_loads: bool = False) -> Storage:
    """Open (or create) the store at ``path``; StoreLocked if another process holds it.

    ``unlogged_loads``: bulk-load chunks are written without the write-ahead log (and made
    durable by a flush of every column family at once when the load ends).
    """
    database = RocksDatabase(path, clock, unlogged_loads)

    def open_database(directory: Path) -> RocksDatabase:
        return RocksDatabase(directory, clock)

    return Storage(
        backend="rocksdb",
        catalog=RocksCatalog(database),
        records=RocksRecords(database),
        imports=RocksImportWrites(database),
        chunks=RocksChunkWrites(database),
        backup=RocksBackup(database, open_database),
        txlog=RocksTransactionLog(database),
        closer=database.close,
        clock=clock,
        local_reads=True,
    )
