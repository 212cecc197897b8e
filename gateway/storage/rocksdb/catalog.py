"""The Catalog port on RocksDB: databases, tables, attributes, and facts about them."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import (
    AttributeExists,
    DatabaseExists,
    DatabaseNotFound,
    InvalidRecord,
    TableExists,
)
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, TableInfo
from gateway.storage.rocksdb.database import CHUNK, RocksDatabase
from gateway.storage.rocksdb.txlog import drop_log


class RocksCatalog:
    """Databases are metadata entries; a table is a column family plus one per index."""

    def __init__(self, database: RocksDatabase) -> None:
        self._rocks = database

    # -- databases --------------------------------------------------------

    def list_databases(self) -> list[str]:
        return sorted(self._rocks.databases)

    def has_database(self, database: str) -> bool:
        return database in self._rocks.databases

    def create_database(self, database: str) -> None:
        rocks = self._rocks
        with rocks.meta_lock:
            if database in rocks.databases:
                raise DatabaseExists(database)
            rocks.save_database(database, {"created": rocks.now_ms()})

    def drop_database(self, database: str) -> None:
        rocks = self._rocks
        with rocks.meta_lock:
            if database not in rocks.databases:
                raise DatabaseNotFound(database)
            for info in self.list_tables(database):
                self.drop_table(database, info.name)
            rocks.forget_database(database)

    # -- tables -----------------------------------------------------------

    def list_tables(self, database: str) -> list[TableInfo]:
        if database not in self._rocks.databases:
            raise DatabaseNotFound(database)
        return [t.info for (db, _), t in sorted(self._rocks.tables.items()) if db == database]

    def table(self, database: str, table: str) -> TableInfo:
        return self._rocks.get_table(database, table).info

    def create_table(
        self,
        database: str,
        table: str,
        primary_key: str = "id",
        attributes: Sequence[AttributeInfo] | None = None,
        expiration: int | None = None,
    ) -> TableInfo:
        rocks = self._rocks
        with rocks.meta_lock:
            if (database, table) in rocks.tables:
                raise TableExists(database, table)
            new_database = database not in rocks.databases
            if new_database:
                self.create_database(database)
            try:
                return self._new_table(database, table, primary_key, attributes, expiration)
            except BaseException:
                if new_database:  # all or nothing: not even the database the table would have made
                    rocks.forget_database_quietly(database)
                raise

    def _new_table(
        self,
        database: str,
        table: str,
        primary_key: str,
        attributes: Sequence[AttributeInfo] | None,
        expiration: int | None,
    ) -> TableInfo:
        """The table's info and indexes, created (all or nothing) in the store."""
        rocks = self._rocks
        schema_defined = attributes is not None
        info = TableInfo(
            database=database,
            name=table,
            primary_key=primary_key,
            schema_defined=schema_defined,
            created=rocks.now_ms(),
            expiration=expiration,
        )
        info.attributes[primary_key] = AttributeInfo(primary_key, True, None)
        indexed: list[str] = []
        for attr in attributes or ():
            if attr.name == primary_key:
                info.attributes[primary_key].type = attr.type
                continue
            info.attributes[attr.name] = AttributeInfo(attr.name, attr.indexed, attr.type)
            if attr.indexed:
                indexed.append(attr.name)
        if not schema_defined:
            for name in (CREATED, UPDATED):
                info.attributes[name] = AttributeInfo(name, True, None)
                indexed.append(name)
        rocks.new_table(info, indexed)
        return info

    def drop_table(self, database: str, table: str) -> None:
        rocks = self._rocks
        with rocks.meta_lock:
            entry = rocks.get_table(database, table)
            with entry.lock:
                rocks.forget_table(database, table)  # from here on the table is gone
                del rocks.tables[(database, table)]
                rocks.close_table(entry)
                for cf_name in [entry.cf_name, *entry.index_cf.values()]:
                    rocks.drop_cf_quietly(cf_name)
                rocks.forget_count_quietly(entry)
                drop_log(rocks, entry)

    # -- attributes -------------------------------------------------------

    def add_attribute(self, database: str, table: str, attribute: str, indexed: bool = True) -> None:
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        with rocks.meta_lock, entry.lock:
            if attribute in entry.info.attributes:
                raise AttributeExists(database, table, attribute)
            rocks.register_attributes(entry, [attribute], indexed=indexed, backfill=True)

    def drop_attribute(self, database: str, table: str, attribute: str) -> None:
        """Forget an attribute: its index, and its value in every record.

        The metadata is saved first, so a crash (or a full device) part-way leaves
        records that still carry the value; a later write of such a record registers it
        again. If the metadata cannot be saved, nothing changes.
        """
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        if attribute == entry.info.primary_key:
            raise InvalidRecord(f"cannot drop the primary key attribute '{attribute}'")
        with rocks.meta_lock, entry.lock:
            if attribute not in entry.info.attributes:
                return
            with rocks.schema_change(entry):
                del entry.info.attributes[attribute]
                cf_name = entry.index_cf.pop(attribute, None)
                entry.index_handles.pop(attribute, None)
                index_cf = entry.index_cfs.pop(attribute, None)
                rocks.save_table(entry)
            if index_cf is not None:
                rocks.close_cf(index_cf)
            if cf_name:
                rocks.drop_cf_quietly(cf_name)
            batch = rocksdict.WriteBatch(raw_mode=True)
            for raw_key, raw in entry.cf.items():
                record = orjson.loads(raw)
                if attribute in record:
                    del record[attribute]
                    batch.put(raw_key, orjson.dumps(record), entry.handle)
                    if batch.len() >= CHUNK:
                        rocks.write(batch, {entry: 0})
                        batch = rocksdict.WriteBatch(raw_mode=True)
            if batch.len():
                rocks.write(batch, {entry: 0})

    def index_attribute(self, database: str, table: str, attribute: str) -> bool:
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        with rocks.meta_lock, entry.lock, rocks.schema_change(entry):
            if attribute == entry.info.primary_key or attribute in entry.index_cfs:
                return False
            known = entry.info.attributes.get(attribute)
            if known is None:
                rocks.register_attributes(entry, [attribute], indexed=True, backfill=True)
                return True
            rocks.add_index(entry, attribute)
            rocks.backfill_index(entry, attribute)
            known.indexed = True
            rocks.save_table(entry)
            return True

    def is_indexed(self, database: str, table: str, attribute: str) -> bool:
        entry = self._rocks.get_table(database, table)
        return attribute == entry.info.primary_key or attribute in entry.index_cfs

    # -- facts ------------------------------------------------------------

    def count(self, database: str, table: str) -> int:
        """Exact: kept with every write. A table that expires records counts its live ones (a scan)."""
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        if entry.info.expiration:
            now = rocks.now_ms()
            return sum(1 for raw in entry.cf.values() if not entry.info.expired(orjson.loads(raw), now))
        return entry.count

    def size_bytes(self, database: str, table: str) -> int:
        """The table's SST files (records and every index) and its memtables, whose
        entries are on disk in the write-ahead log (shared by every table, so not counted
        as such: its files are deleted once the memtables are flushed)."""
        entry = self._rocks.get_table(database, table)
        with entry.lock:
            families = [entry.cf, *entry.index_cfs.values()]
        total = 0
        for cf in families:
            total += cf.property_int_value("rocksdb.live-sst-files-size") or 0
            if cf.property_int_value("rocksdb.num-entries-active-mem-table") or cf.property_int_value(
                "rocksdb.num-entries-imm-mem-tables"
            ):  # an empty memtable still reports its first arena block
                total += cf.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return int(total)

    def last_updated(self, database: str, table: str) -> float | None:
        entry = self._rocks.get_table(database, table)
        index_cf = entry.index_cfs.get(UPDATED)
        if index_cf is None:
            return None
        for key in index_cf.keys(backwards=True):
            value = K.decode_key(key)
            return float(value) if isinstance(value, int | float) else None
        return None
