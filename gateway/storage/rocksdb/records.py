"""The Records port on RocksDB: reads by key, scans, index ranges, and the four write modes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import InvalidRecord, StoreError, TableNotFound
from gateway.storage.records import KeyRange, WriteMode, WriteResult
from gateway.storage.rocksdb.database import RocksDatabase, TableHandle
from gateway.storage.rocksdb.staging import put_record, stage_writes
from gateway.storage.rocksdb.txlog import stage_entry
from gateway.storage.txlog import delete_entry, write_entry
from gateway.storage.writeplan import keys_for_write


class RocksRecords:
    """Records of every table; each write is one WriteBatch."""

    def __init__(self, database: RocksDatabase) -> None:
        self._rocks = database

    # -- reads ------------------------------------------------------------

    def get(self, database: str, table: str, key: Any) -> dict[str, Any] | None:
        entry = self._rocks.get_table(database, table)
        try:
            raw = entry.cf.get(K.encode_key(key))
        except K.UnencodableKey:
            return None
        except rocksdict.DbClosedError as exc:  # dropped since it was looked up
            raise TableNotFound(database, table) from exc
        return self._rocks.live(entry, raw)

    def get_many(self, database: str, table: str, keys: Sequence[Any]) -> list[dict[str, Any] | None]:
        entry = self._rocks.get_table(database, table)
        encoded: list[bytes | None] = []
        for key in keys:
            try:
                encoded.append(K.encode_key(key))
            except K.UnencodableKey:
                encoded.append(None)
        present = [e for e in encoded if e is not None]
        try:
            found = dict(zip(present, entry.cf.get(present), strict=True)) if present else {}
        except rocksdict.DbClosedError as exc:  # dropped since it was looked up
            raise TableNotFound(database, table) from exc
        live = self._rocks.live
        return [live(entry, found.get(e) if e is not None else None) for e in encoded]

    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        entry = self._rocks.get_table(database, table)
        try:
            if entry.info.expiration:
                for raw in entry.cf.values():
                    record = self._rocks.live(entry, raw)
                    if record is not None:
                        yield record
                return
            for raw in entry.cf.values():
                yield orjson.loads(raw)
        except rocksdict.DbClosedError as exc:  # dropped while being read
            raise TableNotFound(database, table) from exc

    def index_keys(self, database: str, table: str, attribute: str, key_range: KeyRange) -> Iterator[Any]:
        for _, key in self.index_items(database, table, attribute, key_range):
            yield key

    def index_items(
        self, database: str, table: str, attribute: str, key_range: KeyRange | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """Expired records are not filtered here (their ids are, when read)."""
        entry = self._rocks.get_table(database, table)
        primary = attribute == entry.info.primary_key
        if primary:
            cf = entry.cf
        else:
            cf = entry.index_cfs.get(attribute)
            if cf is None:
                raise StoreError(f"attribute '{attribute}' is not indexed")
        try:
            for raw, value_length in _range(cf, key_range or KeyRange(), primary):
                if primary:
                    key = K.decode_key(raw)
                    yield key, key
                else:
                    yield K.decode_key(raw), K.decode_key(raw, value_length)
        except rocksdict.DbClosedError as exc:  # dropped while being read
            raise TableNotFound(database, table) from exc

    # -- writes -----------------------------------------------------------

    def write(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> WriteResult:
        """Every record is checked (key, declared types) before anything is written."""
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        keys = keys_for_write(entry.info, records, mode)
        attributes = entry.info.attributes
        new_names = {n for r in records for n in r if n not in attributes}
        batch = rocksdict.WriteBatch(raw_mode=True)
        logged = rocks.txlog.logs(database)
        with rocks.locked(entry):
            if new_names:
                rocks.register_attributes(entry, sorted(new_names))
            stamp = rocks.now_ms()
            stored: dict[bytes, dict[str, Any] | None] | None = {} if logged else None
            result, added = stage_writes(entry, batch, records, keys, mode, stamp, {}, stored)
            if logged:
                packed = write_entry(stamp, mode, records, keys, result.written, stored, rocks.txlog.audit)
                stage_entry(batch, entry, stamp, packed)
            if batch.len():
                rocks.write(batch, {entry: added})
        return result

    def write_many(
        self,
        operations: Sequence[tuple[str, str, Sequence[dict[str, Any]], WriteMode]],
        strict: bool = False,
    ) -> list[WriteResult]:
        """``operations`` is ``[(database, table, records, mode), ...]``; one WriteBatch for all."""
        rocks = self._rocks
        prepared: list[tuple[TableHandle, Sequence[dict[str, Any]], list[Any], WriteMode]] = []
        for database, table, records, mode in operations:
            entry = rocks.get_table(database, table)
            prepared.append((entry, records, keys_for_write(entry.info, records, mode), mode))
        locked = sorted({id(p[0]): p[0] for p in prepared}.values(), key=lambda e: e.cf_name)
        stamp = rocks.now_ms()
        batch = rocksdict.WriteBatch(raw_mode=True)
        results: list[WriteResult] = []
        counted: dict[TableHandle, int] = {}
        pending: dict[tuple[int, bytes], dict[str, Any] | None] = {}
        with contextlib.ExitStack() as stack:
            for entry in locked:
                stack.enter_context(rocks.locked(entry))
            for entry, records, keys, mode in prepared:
                new_names = {n for r in records for n in r if n not in entry.info.attributes}
                if new_names:
                    rocks.register_attributes(entry, sorted(new_names))
                logged = rocks.txlog.logs(entry.info.database)
                stored: dict[bytes, dict[str, Any] | None] | None = {} if logged else None
                result, added = stage_writes(entry, batch, records, keys, mode, stamp, pending, stored)
                if logged:
                    packed = write_entry(
                        stamp, mode, records, keys, result.written, stored, rocks.txlog.audit
                    )
                    stage_entry(batch, entry, stamp, packed)
                counted[entry] = counted.get(entry, 0) + added
                if strict and result.skipped:
                    problem = "already exists" if mode == "insert" else "does not exist"
                    raise InvalidRecord(
                        f"a record with {entry.info.primary_key} "
                        f"{orjson.dumps(result.skipped[0]).decode()} {problem} in '{entry.info.name}'"
                    )
                results.append(result)
            if batch.len():
                rocks.write(batch, counted)
        return results

    def delete(self, database: str, table: str, keys: Iterable[Any]) -> WriteResult:
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        result = WriteResult()
        with rocks.locked(entry):
            batch = rocksdict.WriteBatch(raw_mode=True)
            seen: set[bytes] = set()
            originals: dict[bytes, dict[str, Any] | None] = {}
            for key in keys:
                try:
                    ekey = K.encode_key(key)
                except K.UnencodableKey:
                    result.skipped.append(key)
                    continue
                raw = None if ekey in seen else entry.cf.get(ekey)
                if raw is None:
                    result.skipped.append(key)
                    continue
                seen.add(ekey)
                old = orjson.loads(raw)
                originals[ekey] = old
                put_record(entry, batch, ekey, old, None)
                result.written.append(key)
            if rocks.txlog.logs(database):
                stamp = rocks.now_ms()
                stage_entry(
                    batch, entry, stamp, delete_entry(stamp, list(originals), originals, rocks.txlog.audit)
                )
            if batch.len():
                rocks.write(batch, {entry: -len(result.written)})
        return result

    def sync(self) -> None:
        """Also flushes what bulk loads wrote without the write-ahead log (all column families at once)."""
        self._rocks.flush_unlogged()
        self._rocks.flush_wal()


def _range(cf: Any, r: KeyRange, primary: bool) -> Iterator[tuple[bytes, int]]:
    """Raw keys of ``cf`` within ``r`` and the length of their value part."""
    if r.has_equals or r.prefix is not None:
        prefix = K.encode_key(r.equals) if r.has_equals else K.string_prefix(r.prefix or "")
        for key in cf.keys(from_key=prefix):
            if not key.startswith(prefix):
                return
            yield key, len(key) if primary else K.key_length(key)
        return
    lower = K.encode_key(r.lower) if r.lower is not None else None
    upper = K.encode_key(r.upper) if r.upper is not None else None
    bound = lower if lower is not None else upper
    tag = bound[0] if bound else None
    start = lower if lower is not None else (bytes((tag,)) if tag is not None else b"")
    for key in cf.keys(from_key=start):
        if tag is not None and key[0] != tag:
            return
        length = len(key) if primary else K.key_length(key)
        value_part = key[:length]
        if lower is not None and not r.lower_inclusive and value_part == lower:
            continue
        if upper is not None and (value_part > upper or (value_part == upper and not r.upper_inclusive)):
            return
        yield key, length
