"""Copying one database of a RocksDB store into another store (get_backup)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import rocksdict

from gateway.storage.errors import DatabaseNotFound, TableExists
from gateway.storage.records import AttributeInfo, TableInfo
from gateway.storage.rocks_base import _CHUNK, RocksStoreBase, _Table

if TYPE_CHECKING:
    from gateway.storage.rocks import RocksRecordStore


class CopyMixin(RocksStoreBase):
    """``copy_database_to`` and the table/column-family copies it is made of."""

    def copy_database_to(self, database: str, target: RocksRecordStore) -> None:
        """Copy one database (tables, records, index entries, raw) into another store.

        The target gets nothing else, and no history of anything else: get_backup
        copies from a checkpoint into a fresh store so the tar holds one database.
        """
        if database not in self._databases:
            raise DatabaseNotFound(database)
        if not target.has_database(database):
            target.create_database(database)
        for (db, _), entry in sorted(self._tables.items()):
            if db != database:
                continue
            with entry.lock:
                clone = target._clone_table(entry.info, list(entry.index_cf))
                target._copy_cf(entry.cf, clone.handle)
                for attribute, index_cf in entry.index_cfs.items():
                    target._copy_cf(index_cf, clone.index_handles[attribute])

    def _clone_table(self, info: TableInfo, indexed: list[str]) -> _Table:
        """Create a table with ``info``'s schema and indexes on ``indexed`` (for copies)."""
        with self._meta_lock:
            if (info.database, info.name) in self._tables:
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
            cf_name, cf = self._create_cf("tb")
            entry = _Table(copy, cf_name)
            entry.cf = cf
            entry.handle = self._db.get_column_family_handle(cf_name)
            for attribute in indexed:
                self._add_index(entry, attribute)
            self._save_table(entry)
            self._tables[(info.database, info.name)] = entry
            return entry

    def _copy_cf(self, source_cf: Any, handle: Any) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in source_cf.items():
            batch.put(key, value, handle)
            if batch.len() >= _CHUNK:
                self._db.write(batch)
                batch = rocksdict.WriteBatch(raw_mode=True)
        if batch.len():
            self._db.write(batch)
