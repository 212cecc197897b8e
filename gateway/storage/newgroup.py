"""A group of new records of one import, encoded where the engine runs (``engine.remote``).

When a batch's engine runs in a child process, the inserts it knows are new (engine-generated
keys into a table without a schema) are encoded there, in the form the store keeps them: the
record's JSON with its time stamps, its encoded key, and an index entry per indexed attribute
(every attribute of a table without a schema, new ones included). The store then only puts
them (``ImportWrites.write_new``): the encoding's Python work is off the process that writes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from gateway.storage import keys as K
from gateway.storage.records import CREATED, UPDATED, NewRecords, TableInfo


def encode_new(info: TableInfo, records: Sequence[dict[str, Any]], clock_offset: float) -> NewRecords:
    """``records`` as ``write_records`` would store them new (they are stamped in place: the
    engine process keeps the engine's own records, which it no longer changes once committed);
    the time is this machine's, moved by ``clock_offset`` seconds (the store's clock)."""
    stamp = (time.time() + clock_offset) * 1000.0
    written = orjson.Fragment(orjson.dumps(stamp))  # the stamp's JSON, made once for every row
    for record in records:
        record[CREATED] = written
        record[UPDATED] = written
    pk = info.primary_key
    ekeys = K.encode_keys(list(map(itemgetter(pk), records)))
    rows = list(map(orjson.dumps, records))
    names = sorted(set().union(*records))
    attributes = info.attributes
    indexed = info.indexed_attributes()  # the primary key has no index of its own
    indexed += [name for name in names if name not in attributes and name != pk]
    # Each index's entries in key order: RocksDB inserts a sorted run into its memtable for less
    # CPU (the records stay in the run's order, which the transaction log keeps).
    stamped = list(map(K.encode_key(stamp).__add__, sorted(ekeys)))  # one value for all: encoded once
    index = {
        attribute: stamped
        if attribute in (CREATED, UPDATED)
        else sorted(
            K.index_entries(list(map(dict.get, records, repeat(attribute), repeat(K.MISSING))), ekeys)
        )
        for attribute in indexed
    }
    return NewRecords(names, ekeys, rows, index)
