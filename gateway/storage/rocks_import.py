"""The batch-import write path of the RocksDB store (the commit buffer of ModelTargetStore)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.codec import encode_keys
from gateway.storage.records import WriteMode
from gateway.storage.rocks_base import _MISSING, _Table, _value_keys
from gateway.storage.rocks_write import RecordWriter


class ImportWriteMixin(RecordWriter):
    """Prepared writes: key checks, attribute registration, indexing, and writes of final records."""

    def check_keys(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> list[Any]:
        """The primary keys ``write`` would use for ``records`` (a new UUID for a missing insert key).

        Raises InvalidRecord with ``write``'s message for a bad or missing key or a
        value of the wrong declared type. Writes nothing.
        """
        return self._keys_for_write(self._get_table(database, table), records, mode)

    def ensure_attributes(self, database: str, table: str, names: Iterable[str]) -> None:
        """Register attributes first seen in records about to be written (indexed as ``write`` does)."""
        entry = self._get_table(database, table)
        missing = {name for name in names if name not in entry.info.attributes}
        if missing:
            with self._locked(entry):
                self._register_attributes(entry, sorted(missing))

    def index_attribute(self, database: str, table: str, attribute: str) -> bool:
        """Give ``attribute`` a secondary index built from the stored records; False if it has one.

        An attribute the table does not know yet is added (indexed).
        """
        entry = self._get_table(database, table)
        with self._meta_lock, entry.lock:
            if attribute == entry.info.primary_key or attribute in entry.index_cfs:
                return False
            known = entry.info.attributes.get(attribute)
            if known is None:
                self._register_attributes(entry, [attribute], indexed=True, backfill=True)
                return True
            self._add_index(entry, attribute)
            self._backfill_index(entry, attribute)
            known.indexed = True
            self._save_table(entry)
            return True

    def write_records(self, writes: Sequence[tuple[str, str, bytes, dict[str, Any], bytes, bool]]) -> int:
        """Store records given in their final, encoded form, all in one atomic WriteBatch.

        ``writes`` is ``[(database, table, encoded_key, record, raw, fresh), ...]``,
        at most one entry per table and key: ``record`` is the whole record as
        stored (metadata included) and ``raw`` its orjson encoding. Each record
        replaces what is stored under its key; index entries follow the difference
        between the stored record (read in one multi-get per table) and ``record``.
        ``fresh`` marks keys the caller knows cannot be stored (nothing is read for
        them). Tables are locked while the batch is built and written. Returns the
        number of records written.
        """
        groups: dict[tuple[str, str], list[tuple[str, str, bytes, dict[str, Any], bytes, bool]]] = {}
        for write in writes:
            groups.setdefault((write[0], write[1]), []).append(write)
        entries = {names: self._get_table(*names) for names in groups}
        batch = rocksdict.WriteBatch(raw_mode=True)
        with contextlib.ExitStack() as stack:
            for entry in sorted(entries.values(), key=lambda e: e.cf_name):
                stack.enter_context(self._locked(entry))
            for names, items in groups.items():
                entry = entries[names]
                seen = set().union(*(item[3].keys() for item in items))
                if not seen.issubset(entry.info.attributes):
                    self._register_attributes(entry, sorted(seen.difference(entry.info.attributes)))
                stale = [item[2] for item in items if not item[5]]
                stored = dict(zip(stale, entry.cf.get(stale), strict=True)) if stale else {}
                self._stage_final(entry, batch, items, stored)
            if batch.len():
                self._db.write(batch)
        return len(writes)

    def _stage_final(
        self,
        entry: _Table,
        batch: rocksdict.WriteBatch,
        items: list[tuple[str, str, bytes, dict[str, Any], bytes, bool]],
        stored: dict[bytes, bytes | None],
    ) -> None:
        """Put ``write_records``' items of one table (records and index changes) into ``batch``."""
        put, handle = batch.put, entry.handle
        new_records: list[dict[str, Any]] = []
        new_keys: list[bytes] = []
        for _, _, ekey, record, raw, _ in items:
            old_raw = stored.get(ekey)
            if old_raw is not None:
                self._put_record(entry, batch, ekey, orjson.loads(old_raw), record)
                continue
            new_records.append(record)
            new_keys.append(ekey)
            put(ekey, raw, handle)
        for attribute, index_handle in entry.index_handles.items():
            for index_key in self._flat_index_entries(new_records, new_keys, attribute):
                put(index_key, b"", index_handle)

    @staticmethod
    def _flat_index_entries(records: list[dict[str, Any]], ekeys: list[bytes], attribute: str) -> list[bytes]:
        """Index keys of one attribute over new records (``_value_keys``' rule), column at a time."""
        values: list[Any] = list(map(dict.get, records, repeat(attribute), repeat(_MISSING)))
        kinds = set(map(type, values))
        owners: Sequence[bytes] = ekeys
        if kinds == {list}:  # arrays: index every element
            owners = list(chain.from_iterable(map(repeat, ekeys, map(len, values))))
            values = list(chain.from_iterable(values))
            kinds = set(map(type, values))
        if values and (kinds <= {str} or kinds <= {int, float}):
            try:
                return list(map(bytes.__add__, encode_keys(values), owners))
            except K.UnencodableKey:
                pass
        if owners is ekeys:
            return [vk + ekey for value, ekey in zip(values, ekeys, strict=True) for vk in _value_keys(value)]
        return [vk + ekey for value, ekey in zip(values, owners, strict=True) for vk in _value_keys([value])]
