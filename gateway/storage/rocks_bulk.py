"""Bulk loads into the RocksDB store (csv_*_load, import_from_s3): chunks and columns."""

from __future__ import annotations

import operator
import uuid
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.arrowencode import ChunkPlan, EncodedChunk
from gateway.storage.codec import (
    columns_types_ok,
    encode_keys,
    json_fragments,
    row_template,
    stamp_suffix,
    types_ok,
)
from gateway.storage.errors import InvalidRecord
from gateway.storage.records import CREATED, UPDATED, TableInfo, WriteMode
from gateway.storage.rocks_base import _MISSING, _Table, _value_keys, now_ms
from gateway.storage.rocks_write import RecordWriter
from gateway.storage.types import type_errors


class ChunkRecordError(InvalidRecord):
    """A record of a ``load_chunk`` cannot be written; ``index`` is its position in the chunk."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class BulkLoadMixin(RecordWriter):
    """``load_chunk`` and ``load_columns``: large chunks of new records written for throughput."""

    def load_chunk(
        self,
        database: str,
        table: str,
        records: list[dict[str, Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """Write one large chunk of a bulk load; returns the (written, skipped) counts.

        The rules are ``write``'s (insert skips existing keys, update skips missing
        ones and records without a key, upsert merges) but built for throughput:
        records are changed in place instead of copied, no key lists are returned,
        keys and type checks are done column by column (``gateway.storage.codec``),
        and when none of the chunk's keys can exist yet (one iterator seek over
        the chunk's key range, no duplicates in the chunk) records and index
        entries are put in key order without reading anything. Every record is
        checked first: a bad key or a value of the wrong declared type raises
        ``ChunkRecordError`` with the record's index, and nothing is written.
        """
        if mode not in ("insert", "update", "upsert"):
            raise ValueError(f"load_chunk cannot {mode}")
        entry = self._get_table(database, table)
        info = entry.info
        pk = info.primary_key
        stamp = now_ms() if stamp is None else stamp
        live, ekeys, skipped = self._chunk_keys(records, pk, mode)
        if info.schema_defined:
            self._check_chunk_types(info, records)
        if not live:
            return 0, skipped
        new_names = set().union(*live).difference(info.attributes)
        with self._locked(entry):
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            order = sorted(range(len(ekeys)), key=ekeys.__getitem__)
            keys_sorted = [ekeys[i] for i in order]
            fresh = (
                not info.expiration
                and len(set(ekeys)) == len(ekeys)
                and self._range_empty(entry.cf, keys_sorted[0], keys_sorted[-1])
            )
            if fresh and mode == "update":
                return 0, skipped + len(live)
            batch = rocksdict.WriteBatch(raw_mode=True)
            if fresh:
                self._stage_fresh(entry, batch, [live[i] for i in order], keys_sorted, stamp)
                written = len(live)
            else:
                keys = [record[pk] for record in live]
                result = self._stage_writes(entry, batch, live, keys, mode, stamp, {})
                written = len(result.written)
                skipped += len(result.skipped)
            if batch.len():
                self._db.write(batch)
        return written, skipped

    def load_columns(
        self,
        database: str,
        table: str,
        names: list[str],
        columns: list[Sequence[Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """``load_chunk`` for records given as columns (every record has every attribute).

        New records in an empty key range are encoded without building a dict per
        record: each column is turned into JSON fragments at once and records are
        formatted from a template (``gateway.storage.codec``). Anything else (keys that
        may exist, duplicates, missing keys) goes through ``load_chunk``.
        """
        count = len(columns[0]) if columns else 0
        entry = self._get_table(database, table)
        info = entry.info
        pk = info.primary_key
        if (
            not count
            or mode == "update"
            or pk not in names
            or len(set(names)) != len(names)
            or info.expiration
        ):
            return self._load_as_records(database, table, names, columns, mode, stamp)
        keys = columns[names.index(pk)]
        if not set(map(type, keys)) <= {int, str} or "" in keys:
            return self._load_as_records(database, table, names, columns, mode, stamp)
        try:
            ekeys = encode_keys(keys)
        except K.UnencodableKey:
            return self._load_as_records(database, table, names, columns, mode, stamp)
        types = info.declared_types()
        if types and not columns_types_ok(names, columns, types):
            return self._load_as_records(database, table, names, columns, mode, stamp)
        stamp = now_ms() if stamp is None else stamp
        new_names = set(names).difference(info.attributes)
        with self._locked(entry):
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            keys_sorted = sorted(ekeys)
            if len(set(ekeys)) != count or not self._range_empty(entry.cf, keys_sorted[0], keys_sorted[-1]):
                return self._load_as_records(database, table, names, columns, mode, stamp)
            if keys_sorted == ekeys:  # input already in key order (the usual case)
                sorted_columns = columns
            else:
                order = sorted(range(count), key=ekeys.__getitem__)
                sorted_columns = [[column[i] for i in order] for column in columns]
            batch = rocksdict.WriteBatch(raw_mode=True)
            suffix = b"" if info.schema_defined else stamp_suffix(stamp)
            fragments = []
            quoted = []
            for column in sorted_columns:
                parts, is_quoted = json_fragments(column)
                fragments.append(parts)
                quoted.append(is_quoted)
            template = row_template(names, quoted, suffix)
            put = batch.put
            handle = entry.handle
            for ekey, raw in zip(
                keys_sorted, map(template.__mod__, zip(*fragments, strict=True)), strict=True
            ):
                put(ekey, raw, handle)
            positions = {name: i for i, name in enumerate(names)}
            stamps = [stamp] * count
            for attribute, index_handle in entry.index_handles.items():
                if attribute in positions:
                    values: Sequence[Any] = sorted_columns[positions[attribute]]
                elif attribute in (CREATED, UPDATED) and not info.schema_defined:
                    values = stamps
                else:
                    continue
                entries = self._column_index_entries(values, keys_sorted)
                entries.sort()
                for key in entries:
                    put(key, b"", index_handle)
            self._db.write(batch)
        return count, 0

    def chunk_plan(self, database: str, table: str, names: Sequence[str], stamp: float | None) -> ChunkPlan:
        """How a chunk of new records with these attributes is to be encoded (``arrowencode``).

        The indexes are those the table will have once the chunk's new attributes
        are registered (tables without a schema index every attribute).
        """
        entry = self._get_table(database, table)
        info = entry.info
        indexed = list(entry.index_handles)
        if not info.schema_defined:
            indexed += [name for name in dict.fromkeys(names) if name not in info.attributes]
        types = info.declared_types()
        return ChunkPlan(info.primary_key, tuple(indexed), types, None if info.schema_defined else stamp)

    def write_encoded(self, database: str, table: str, chunk: EncodedChunk, mode: WriteMode) -> bool:
        """Write an encoded chunk of new records in one WriteBatch; False (nothing written) if it cannot.

        It cannot when the table changed since the chunk was planned, the table
        expires records, the mode is update, or any of the chunk's keys may
        already be stored (then the caller writes the chunk the per-value way).
        """
        if mode not in ("insert", "upsert") or not len(chunk):
            return False
        entry = self._get_table(database, table)
        if entry.info.expiration:
            return False
        with self._locked(entry):
            if self.chunk_plan(database, table, chunk.names, chunk.plan.stamp) != chunk.plan:
                return False
            keys = chunk.keys
            if not self._range_empty(entry.cf, keys[0], keys[-1]):
                return False
            new_names = [name for name in chunk.names if name not in entry.info.attributes]
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            staged = chunk.batch
            if staged is None or not all(map(operator.is_, staged[0], self._chunk_handles(entry, chunk))):
                staged = ((), self._chunk_batch(entry, chunk))
            self._db.write(staged[1])
        return True

    def stage_encoded(self, database: str, table: str, chunk: EncodedChunk) -> None:
        """Put an encoded chunk into its WriteBatch ahead of ``write_encoded`` (a thread of its own).

        Only when every index the chunk has entries for exists already (a table
        without a schema gets its indexes when ``write_encoded`` registers the
        chunk's new attributes).
        """
        entry = self._get_table(database, table)
        if entry.handle is not None and set(chunk.index) <= entry.index_handles.keys():
            chunk.batch = (self._chunk_handles(entry, chunk), self._chunk_batch(entry, chunk))

    @staticmethod
    def _chunk_handles(entry: _Table, chunk: EncodedChunk) -> tuple[Any, ...]:
        """The column families a chunk's batch puts into (compared by identity: a dropped one is new)."""
        return (entry.handle, *(entry.index_handles.get(attribute) for attribute in chunk.index))

    @staticmethod
    def _chunk_batch(entry: _Table, chunk: EncodedChunk) -> rocksdict.WriteBatch:
        batch = rocksdict.WriteBatch(raw_mode=True)
        put = batch.put
        deque(map(put, chunk.keys, chunk.rows, repeat(entry.handle)), 0)
        for attribute, entries in chunk.index.items():
            deque(map(put, entries, repeat(b""), repeat(entry.index_handles[attribute])), 0)
        return batch

    def _load_as_records(
        self,
        database: str,
        table: str,
        names: list[str],
        columns: list[Sequence[Any]],
        mode: WriteMode,
        stamp: float | None,
    ) -> tuple[int, int]:
        records = list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))
        return self.load_chunk(database, table, records, mode, stamp)

    @staticmethod
    def _column_index_entries(values: Sequence[Any], ekeys: list[bytes]) -> list[bytes]:
        kinds = set(map(type, values))
        if kinds <= {str} or kinds <= {int, float}:
            try:
                return list(map(bytes.__add__, encode_keys(values), ekeys))
            except K.UnencodableKey:
                pass
        entries: list[bytes] = []
        for value, ekey in zip(values, ekeys, strict=True):
            entries.extend(value_key + ekey for value_key in _value_keys(value))
        return entries

    @staticmethod
    def _chunk_keys(
        records: list[dict[str, Any]], pk: str, mode: WriteMode
    ) -> tuple[list[dict[str, Any]], list[bytes], int]:
        """The records to write, their encoded keys, and how many were skipped (update without key)."""
        keys = list(map(dict.get, records, repeat(pk)))
        kinds = set(map(type, keys))
        if kinds <= {int, str} and (str not in kinds or "" not in keys):
            try:
                return records, encode_keys(keys), 0
            except K.UnencodableKey:
                pass
        live: list[dict[str, Any]] = []
        encoded: list[bytes] = []
        skipped = 0
        for index, (record, key) in enumerate(zip(records, keys, strict=True)):
            kind = type(key)
            if key is None or key == "":
                if mode == "update":
                    skipped += 1
                    continue
                key = record[pk] = str(uuid.uuid4())
            elif kind is not int and kind is not str and kind is not float:
                raise ChunkRecordError(
                    index, f"invalid primary key value {orjson.dumps(key).decode()} for '{pk}'"
                )
            try:
                encoded.append(K.encode_key(key))
            except K.UnencodableKey as exc:
                raise ChunkRecordError(index, str(exc)) from exc
            live.append(record)
        return live, encoded, skipped

    @staticmethod
    def _check_chunk_types(info: TableInfo, records: Sequence[dict[str, Any]]) -> None:
        types = info.declared_types()
        if not types or types_ok(records, types):
            return
        for index, record in enumerate(records):
            errors = type_errors(record, types)
            if errors:
                raise ChunkRecordError(index, ". ".join(errors))

    @staticmethod
    def _range_empty(cf: Any, low: bytes, high: bytes) -> bool:
        """Whether ``cf`` holds no key between ``low`` and ``high`` (inclusive)."""
        for key in cf.keys(from_key=low):
            return bool(key > high)
        return True

    def _stage_fresh(
        self,
        entry: _Table,
        batch: rocksdict.WriteBatch,
        records: list[dict[str, Any]],
        ekeys: list[bytes],
        stamp: float,
    ) -> None:
        """Put new records (sorted by key, none stored yet) and their index entries, each in key order."""
        info = entry.info
        put = batch.put
        if not info.schema_defined or info.expiration:
            for record in records:
                record[CREATED] = stamp
                record[UPDATED] = stamp
        handle = entry.handle
        for ekey, raw in zip(ekeys, map(orjson.dumps, records), strict=True):
            put(ekey, raw, handle)
        for attribute, index_handle in entry.index_handles.items():
            entries = self._index_entries(records, ekeys, attribute)
            entries.sort()
            for key in entries:
                put(key, b"", index_handle)

    @staticmethod
    def _index_entries(records: list[dict[str, Any]], ekeys: list[bytes], attribute: str) -> list[bytes]:
        """Index keys (value + primary key) of one attribute over a chunk of new records."""
        values = list(map(dict.get, records, repeat(attribute), repeat(_MISSING)))
        kinds = set(map(type, values))
        if (kinds <= {str} or kinds <= {int, float}) and _MISSING not in values:
            try:
                return list(map(bytes.__add__, encode_keys(values), ekeys))
            except K.UnencodableKey:
                pass
        entries: list[bytes] = []
        for value, ekey in zip(values, ekeys, strict=True):
            if value is not _MISSING:
                entries.extend(value_key + ekey for value_key in _value_keys(value))
        return entries
