"""The engine's TargetStore over the storage ports, bound to one model database.

Lookups use the table's secondary index when the attribute is indexed. A
record's targets are checked and encoded when the engine commits them (a
failure is that record's error) and kept in a write-behind buffer
(:mod:`gateway.imports.commit_buffer`) that is stored atomically every
``ImportWrites.group_records`` records (the store's choice), at every progress
report and at the end of the run (in a background thread while the engine goes on, where
the store says: ``ImportWrites.write_behind``); a record is never split across writes. Later
records of the batch see earlier records' commits (§7.2.5): ``get`` and indexed
``find`` read pending records too; other reads flush first. A dry run's adapter
refuses every write. A failure of the store itself (a full device) while a record is
committed is not that record's error: it ends the run (a ``BatchError``). Records are
read with their store metadata: ``__createdtime__``
orders results, also across tables (``haplo:code-to-ref`` takes the oldest record of
any table); the engine drops it from the targets it builds, and from what it commits.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import orjson

from engine import BatchError, ports
from engine.changes import same_json
from engine.models import Model
from engine.ports import TargetWrite, copied_record
from gateway.imports.commit_buffer import FLUSH_SECONDS, CommitBuffer, FlushFailed
from gateway.storage import keys as K
from gateway.storage.errors import DatabaseNotFound, InvalidRecord, StoreError, StoreFailure, TableNotFound
from gateway.storage.ports import Storage
from gateway.storage.records import (
    CREATED,
    UPDATED,
    FinalRecord,
    KeyRange,
    NewRecords,
    TableInfo,
    WriteMode,
)
from gateway.storage.writeplan import merged

_SCALARS = (str, int, float, bool, type(None))

INFO_SECONDS = 1.0
"""How long a run keeps the tables' info it read (schema, attributes, primary key) before reading
it again, between groups: a write whose table changed meanwhile is planned again by the store."""
_NEW, _UPDATED, _UNCHANGED = ports.NEW, ports.UPDATED, ports.UNCHANGED


def _same(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def value_matches(stored: Any, wanted: Any) -> bool:
    """``stored`` equals ``wanted`` or, for an array, contains it."""
    if _same(stored, wanted):
        return True
    return isinstance(stored, list) and any(_same(item, wanted) for item in stored)


def _same_record(stored: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether two records hold the same Names and values (store metadata aside)."""
    a = {k: v for k, v in stored.items() if k != CREATED and k != UPDATED}
    b = {k: v for k, v in record.items() if k != CREATED and k != UPDATED}
    return same_json(a, b)


def _age(record: dict[str, Any]) -> float:
    created = record.get(CREATED)
    return float(created) if isinstance(created, int | float) else 0.0


def _encoded(value: Any) -> bytes | None:
    """The store key of a scalar, or None if it cannot be a key."""
    return K.encode_key_or_none(value) if isinstance(value, _SCALARS) else None


def generated_key_tables(model: Model) -> frozenset[str]:
    """Tables whose new records always get an engine-generated UUID key.

    The engine sets a new target's key itself unless the destination declares its
    primary key as a Name (then instructions may set it); for these tables an
    insert needs no existence check (a version-4 UUID from ``os.urandom``).
    """
    tables: dict[str, bool] = {}
    for dest in model.stored_destinations:
        if dest.table is not None:
            generated = dest.primary_key not in dest.names
            tables[dest.table] = tables.get(dest.table, True) and generated
    return frozenset(table for table, generated in tables.items() if generated)


class ModelTargetStore:
    """TargetStore for one database; ``read_only`` for dry runs.

    ``generated_keys``: tables whose inserted keys are engine-generated UUIDs
    (:func:`generated_key_tables`); their inserts read nothing from the store.
    ``flush_records`` / ``flush_seconds``: the buffer is flushed by the commit
    that reaches this many pending records (default: the store's ``group_records``),
    or this long after the oldest.
    Call :meth:`flush` at the end of the run (and whenever commits must be durable).
    """

    def __init__(
        self,
        storage: Storage,
        database: str,
        read_only: bool = False,
        generated_keys: Collection[str] = (),
        flush_records: int | None = None,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.storage = storage
        self._catalog = storage.catalog
        self._records = storage.records
        self._imports = storage.imports
        self.database = database
        self.read_only = read_only
        self.generated_keys = frozenset(generated_keys)
        records = storage.imports.group_records if flush_records is None else flush_records
        self.buffer = CommitBuffer(
            storage.imports, database, records, flush_seconds, background=storage.imports.write_behind
        )
        self._infos: dict[str, TableInfo] = {}  # tables written since the cache was cleared
        self._infos_since = 0.0

    @property
    def committed(self) -> int:
        """Records stored so far (flushed commits)."""
        return self.buffer.flushed

    def flush(self) -> int:
        """Store the pending commits now; how many records were stored. Raises FlushFailed."""
        return self.buffer.flush()

    def flush_behind(self) -> bool:
        """Start storing the pending commits (after the group in flight); whether every commit so
        far is stored (else those before the previous call are). Raises FlushFailed."""
        return self.buffer.flush_behind()

    def end_run(self, exception: str | None, committed: int) -> tuple[str | None, int]:
        """At the end of a run: store what is still pending. The run's ``exception`` (a failed
        flush's reason added to it) and how many of the ``committed`` records the engine counted
        were stored (a failed flush loses its records)."""
        try:
            self.flush()
        except FlushFailed as exc:
            exception = f"{exception}; {exc}" if exception else str(exc)
        finally:
            self.buffer.close()
        return exception, max(0, committed - self.buffer.lost)

    # -- reads ------------------------------------------------------------------------

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        """The stored (or committed, pending) record with this primary key, or None."""
        rows = self.buffer.pending(table)
        if rows is not None:
            ekey = _encoded(key)
            entry = rows.get(ekey) if ekey is not None else None
            if entry is not None:
                found: dict[str, Any] = orjson.loads(entry.raw)  # a copy the engine may keep
                return found
        self.buffer.settle()  # the group in flight is stored before the store is read
        try:
            return self._records.get(self.database, table, key)
        except (DatabaseNotFound, TableNotFound):
            return None

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        """Records whose ``attribute`` equals (or, for arrays, contains) ``value``; oldest first."""
        rows = self.buffer.pending(table)
        if rows is None:
            return self._find_stored(table, attribute, value)
        try:
            info = self._catalog.table(self.database, table)
        except (DatabaseNotFound, TableNotFound):
            return []
        if attribute == info.primary_key:
            found = self.get(table, value) if isinstance(value, _SCALARS) else None
            return [found] if found is not None else []
        attr = info.attributes.get(attribute)
        if attr is None and not info.schema_defined:
            return []  # no record has ever had this attribute (pending ones register theirs)
        if attr is None or not attr.indexed or _encoded(value) is None:
            self.flush()  # a scan (or an odd value): let the store answer
            return self._find_stored(table, attribute, value)
        return self._find_with_pending(info, rows, attribute, value)

    def _find_with_pending(
        self, info: TableInfo, rows: dict[bytes, FinalRecord], attribute: str, value: Any
    ) -> list[dict[str, Any]]:
        """An index look-up over the stored records with pending records laid over them."""
        table = info.name
        self.buffer.settle()
        keys = list(self._records.index_keys(self.database, table, attribute, KeyRange(value, True)))
        merged: dict[bytes, dict[str, Any]] = {}
        if keys:
            for key, record in zip(keys, self._records.get_many(self.database, table, keys), strict=True):
                ekey = K.encode_key(key)
                if record is not None and ekey not in rows:
                    merged[ekey] = record
        for ekey in self.buffer.matches(table, attribute, value):
            merged[ekey] = orjson.loads(rows[ekey].raw)
        hits = [(ekey, r) for ekey, r in merged.items() if value_matches(r.get(attribute), value)]
        hits.sort(key=lambda hit: (_age(hit[1]), hit[0]))  # the store's order: oldest, then by key
        return [r for _, r in hits]

    def _find_stored(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        self.buffer.settle()
        try:
            info = self._catalog.table(self.database, table)
        except (DatabaseNotFound, TableNotFound):
            return []
        if attribute == info.primary_key:
            found = self._records.get(self.database, table, value) if isinstance(value, _SCALARS) else None
            return [found] if found is not None else []
        candidates: Iterable[dict[str, Any] | None]
        attr = info.attributes.get(attribute)
        if isinstance(value, _SCALARS) and attr is not None and attr.indexed:
            keys = list(
                self._records.index_keys(
                    self.database, table, attribute, KeyRange(equals=value, has_equals=True)
                )
            )
            candidates = self._records.get_many(self.database, table, keys) if keys else []
        elif attr is None and info.schema_defined is False:
            return []  # no record has ever had this attribute
        else:
            candidates = self._records.scan(self.database, table)
        hits = [r for r in candidates if r is not None and value_matches(r.get(attribute), value)]
        hits.sort(key=_age)
        return hits

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every record of the table, oldest first."""
        self.buffer.settle()
        if self.buffer.pending(table) is not None:
            self.flush()
        try:
            records = list(self._records.scan(self.database, table))
        except (DatabaseNotFound, TableNotFound):
            return iter(())
        records.sort(key=_age)
        return iter(records)

    def tables(self) -> dict[str, str]:
        """Every table of the model database, with its primary key attribute."""
        try:
            return {info.name: info.primary_key for info in self._catalog.list_tables(self.database)}
        except DatabaseNotFound:
            return {}

    # -- writes -----------------------------------------------------------------------

    def known_new_tables(self) -> dict[str, TableInfo]:
        """Tables where an insert with an engine-generated key (``generated_keys``) is always new
        and checks nothing that could fail (no schema, as they are now), with their info."""
        known = {}
        for table in self.generated_keys:
            try:
                info = self._info(table)
            except (DatabaseNotFound, TableNotFound):
                continue
            if not info.schema_defined:
                known[table] = info
        return known

    def write_new(self, table: str, records: NewRecords) -> None:
        """Store new records encoded ahead (``gateway.storage.newgroup``), after the commits still
        pending; where the store does not take them so, as committed records. Raises FlushFailed,
        as a flush does."""
        self.flush()
        try:
            if not self._imports.write_new(self.database, table, records):
                pk = self._info(table).primary_key
                rows = {}
                for ekey, raw in zip(records.keys, records.rows, strict=True):
                    record = orjson.loads(raw)
                    rows[ekey] = FinalRecord(record[pk], record, raw, True)
                self._imports.write_records(self.database, {table: rows})
        except Exception as exc:
            raise FlushFailed(
                f"Could not store the last {len(records.keys)} committed records: {exc}"
            ) from exc
        self.buffer.flushed += len(records.keys)

    def commit(self, writes: Sequence[TargetWrite]) -> list[int]:
        """Check and encode one record's targets and buffer them together; what each write did.

        A replacement whose result equals the stored record is UNCHANGED and not written.
        Raises StoreError (the engine's) for what ``write_many(strict=True)`` would
        refuse (bad key, an insert of a stored key, a value of the wrong declared
        type); nothing of the record is kept then. FlushFailed (not a record error)
        if a flush this commit triggers fails; BatchError if the store itself fails
        (StoreFailure, OutOfSpace), which ends the run.
        """
        if self.read_only:
            raise StoreError("a dry run writes nothing")
        if not self.buffer.records and self._infos:
            now = time.monotonic()
            if now - self._infos_since >= INFO_SECONDS:  # a catalog read is a round trip on a server
                self._infos.clear()
                self._infos_since = now
        if len(writes) == 1:
            outcome = self._commit_new(writes[0])
            if outcome is not None:
                return [outcome]
        stamp = self.storage.now_ms()
        staged: dict[tuple[str, bytes], FinalRecord] = {}
        keyed = [self._keyed(write) for write in writes]  # every key is checked first, as write_many does
        outcomes = [
            self._stage(write, info, record, key, ekey, stamp, staged)
            for write, info, record, key, ekey in keyed
        ]
        try:
            for (_, info, record, _, _), outcome in zip(keyed, outcomes, strict=True):
                if outcome != _UNCHANGED and not record.keys() <= info.attributes.keys():
                    self.buffer.settle()  # a catalog change waits for the group in flight
                    self._imports.ensure_attributes(self.database, info.name, record.keys())
        except StoreFailure as exc:  # the store, not this record: the run ends
            raise BatchError(str(exc)) from exc
        if staged:
            self.buffer.add(staged)
        return outcomes

    def _info(self, table: str) -> TableInfo:
        """The table's info, read again between groups once ``INFO_SECONDS`` have passed."""
        info = self._infos.get(table)
        if info is None:
            info = self._infos[table] = self._catalog.table(self.database, table)
        return info

    def _commit_new(self, write: TargetWrite) -> int | None:
        """The common commit at once: a new record whose key the engine generated (a string, not
        pending) into a table without a schema that knows every attribute. What ``_keyed`` and
        ``_stage`` would do, with one copy of the record and no read; None (nothing done) for
        any other write, which takes the general path."""
        table = write.table
        if not write.is_new or table not in self.generated_keys:
            return None
        info = self._info(table)
        source = write.record
        if (
            info.schema_defined
            or CREATED in source
            or UPDATED in source
            or not source.keys() <= info.attributes.keys()
        ):
            return None
        key = source.get(info.primary_key)
        if type(key) is not str or not key:
            return None
        ekey = K.encode_key(key)
        rows = self.buffer.tables.get(table)
        if rows and ekey in rows:
            return None
        record = copied_record(source)
        stamp = self.storage.now_ms()
        record[CREATED] = stamp
        record[UPDATED] = stamp
        self.buffer.add_one(table, ekey, FinalRecord(key, record, orjson.dumps(record), True))
        return _NEW

    def preview(self, writes: Sequence[TargetWrite]) -> list[int]:
        """What :meth:`commit` would answer, writing nothing (a dry run); StoreError as it would raise.

        An insert into a table with engine-generated keys is new without a read.
        """
        outcomes = []
        for write in writes:
            if write.is_new and write.table in self.generated_keys:
                outcomes.append(ports.NEW)
                continue
            stored = self.get(write.table, write.primary_key)
            if stored is None:
                outcomes.append(ports.NEW)
            elif write.is_new:
                raise StoreError(f"a record with this key already exists in '{write.table}'")
            else:
                outcomes.append(ports.UNCHANGED if _same_record(stored, write.record) else ports.UPDATED)
        return outcomes

    def _keyed(self, write: TargetWrite) -> tuple[TargetWrite, TableInfo, dict[str, Any], Any, bytes]:
        """The write's table, its record (metadata dropped, arrays copied) and its key, checked."""
        info = self._info(write.table)
        record = copied_record(write.record)
        if CREATED in record or UPDATED in record:
            record.pop(CREATED, None)
            record.pop(UPDATED, None)
        key = record.get(info.primary_key)
        kind = type(key)
        if kind is str and key and not info.schema_defined:
            return write, info, record, key, K.encode_key(key)
        ekey = _encoded(key) if kind is int and not info.schema_defined else None
        if ekey is None:
            mode: WriteMode = "insert" if write.is_new else "replace"
            key = self._imports.check_keys(self.database, write.table, [record], mode)[0]
            ekey = K.encode_key(key)
        return write, info, record, key, ekey

    def _stage(
        self,
        write: TargetWrite,
        info: TableInfo,
        record: dict[str, Any],
        key: Any,
        ekey: bytes,
        stamp: float,
        staged: dict[tuple[str, bytes], FinalRecord],
    ) -> int:
        """Encode one write as ``write_many``'s insert or replace would store it; its outcome
        (an unchanged replacement is not staged)."""
        table, pk = info.name, info.primary_key
        slot = (table, ekey)
        prior = staged.get(slot)
        if prior is None:
            rows = self.buffer.tables.get(table)
            prior = rows.get(ekey) if rows else None
        old: dict[str, Any] | None
        if prior is not None:
            old, fresh = prior.record, prior.fresh
        elif write.is_new and table in self.generated_keys:
            old, fresh = None, True
        else:
            self.buffer.settle()
            old, fresh = self._records.get(self.database, table, key), False
        new = merged(info, "insert" if write.is_new else "replace", record, key, old, stamp)
        if new is None:
            raise InvalidRecord(
                f"a record with {pk} {orjson.dumps(key).decode()} already exists in '{table}'"
            )
        if old is None or write.is_new:
            outcome = _NEW
        elif _same_record(old, new):
            return _UNCHANGED
        else:
            outcome = _UPDATED
        staged[slot] = FinalRecord(key, new, orjson.dumps(new), fresh)
        return outcome
