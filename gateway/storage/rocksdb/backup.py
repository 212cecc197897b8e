"""The Backup port on RocksDB: checkpoints of the whole store, and one database as a tar.

``database_archive`` checkpoints the whole store (hard links, consistent at one
instant) into a work directory, opens the checkpoint as a store of its own and
copies the one database (tables, records, index entries) raw into a fresh store,
which therefore holds nothing of the other databases (the ``system`` database
with users, roles and API keys included), not even in its MANIFEST or WAL. That
directory is the tar's ``<database>/``: untar it and point a gateway's ``db/`` at
it (or open it with ``gateway.storage.rocksdb.open_rocksdb``) to read the database back.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rocksdict

from gateway.storage.errors import RECORDS_STORE, DatabaseNotFound, OutOfSpace, TableExists, is_no_space
from gateway.storage.records import AttributeInfo, TableInfo
from gateway.storage.rocksdb.database import CHUNK, RocksDatabase, TableHandle

_SKIPPED_FILES = ("LOCK", "LOG")


class RocksBackup:
    """Copies of a RocksDB store."""

    def __init__(self, database: RocksDatabase, open_database: Callable[[Path], RocksDatabase]) -> None:
        self._rocks = database
        self._open = open_database

    def checkpoint(self, directory: str) -> None:
        with self._rocks.guard("make a checkpoint"):
            rocksdict.Checkpoint(self._rocks.db).create_checkpoint(directory)

    def database_archive(self, database: str, work_dir: Path) -> Path:
        """``<work_dir>/<database>.tar`` holding a fresh store with only ``database``."""
        if database not in self._rocks.databases:
            raise DatabaseNotFound(database)
        checkpoint = work_dir / "checkpoint"
        fresh = work_dir / "db"
        self.checkpoint(str(checkpoint))
        source = self._open(checkpoint)
        try:
            target = self._open(fresh)
            try:
                copy_database(source, database, target)
                target.flush()
            finally:
                target.close()
        finally:
            source.close()
        shutil.rmtree(checkpoint, ignore_errors=True)
        tar_path = work_dir / f"{database}.tar"
        try:
            with tarfile.open(tar_path, "w") as tar:
                for path in sorted(fresh.iterdir()):
                    if path.name in _SKIPPED_FILES or path.name.startswith("LOG.old"):
                        continue
                    tar.add(path, arcname=f"{database}/{path.name}")
        except OSError as exc:
            if is_no_space(exc):
                raise OutOfSpace(RECORDS_STORE, "no room for the backup archive") from exc
            raise
        shutil.rmtree(fresh, ignore_errors=True)
        return tar_path


def copy_database(source: RocksDatabase, database: str, target: RocksDatabase) -> None:
    """Copy one database (tables, records, index entries, raw) from one store into another."""
    if database not in source.databases:
        raise DatabaseNotFound(database)
    with target.meta_lock:
        if database not in target.databases:
            target.save_database(database, dict(source.databases[database]))
    for (db, _), entry in sorted(source.tables.items()):
        if db != database:
            continue
        with entry.lock:
            clone = _clone_table(target, entry.info, list(entry.index_cf))
            _copy_cf(target, entry.cf, clone.handle)
            for attribute, index_cf in entry.index_cfs.items():
                _copy_cf(target, index_cf, clone.index_handles[attribute])
            target.set_count(clone, entry.count)


def _clone_table(target: RocksDatabase, info: TableInfo, indexed: list[str]) -> TableHandle:
    """Create a table with ``info``'s schema and indexes on ``indexed`` (for copies)."""
    with target.meta_lock:
        if (info.database, info.name) in target.tables:
            raise TableExists(info.database, info.name)
        copy = TableInfo(
            database=info.database,
            name=info.name,
            primary_key=info.primary_key,
            schema_defined=info.schema_defined,
            attributes={n: AttributeInfo(a.name, a.indexed, a.type) for n, a in info.attributes.items()},
            created=info.created,
            expiration=info.expiration,
        )
        return target.new_table(copy, indexed)


def _copy_cf(target: RocksDatabase, source_cf: Any, handle: Any) -> None:
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in source_cf.items():
        batch.put(key, value, handle)
        if batch.len() >= CHUNK:
            target.write(batch)
            batch = rocksdict.WriteBatch(raw_mode=True)
    if batch.len():
        target.write(batch)
