"""Whole-chunk encoding of bulk-load records held as Python columns (every record has every attribute).

``encode_columns`` does for lists of Python values what ``arrowencode.encode_chunk``
does for Arrow arrays: the new records' sorted keys, their JSON and every
index's sorted entries, without building a dict per record. Keys come from
``keys.encode_keys`` column by column, records from one JSON template
(``rowjson``). It answers None whenever the chunk is not certainly new records
it can encode exactly (a missing, empty or non-int/str key, repeated keys or
names, a declared type not certainly met): the caller then writes the chunk as
records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.bulk.rowjson import json_fragments, row_template, stamp_suffix
from gateway.storage import keys as K
from gateway.storage.harper_types import columns_types_ok
from gateway.storage.records import CREATED, UPDATED, ChunkPlan, EncodedChunk


def encode_columns(names: list[str], columns: list[Sequence[Any]], plan: ChunkPlan) -> EncodedChunk | None:
    """The chunk's records encoded for the store, or None to write them as records."""
    count = len(columns[0]) if columns else 0
    pk = plan.primary_key
    if not count or pk not in names or len(set(names)) != len(names):
        return None
    keys = columns[names.index(pk)]
    if not set(map(type, keys)) <= {int, str} or "" in keys:
        return None
    try:
        ekeys = K.encode_keys(keys)
    except K.UnencodableKey:
        return None
    if plan.types and not columns_types_ok(names, columns, plan.types):
        return None
    keys_sorted = sorted(ekeys)
    if len(set(ekeys)) != count:
        return None
    if keys_sorted == ekeys:  # input already in key order (the usual case)
        sorted_columns = columns
    else:
        order = sorted(range(count), key=ekeys.__getitem__)
        sorted_columns = [[column[i] for i in order] for column in columns]
    fragments = []
    quoted = []
    for column in sorted_columns:
        parts, is_quoted = json_fragments(column)
        fragments.append(parts)
        quoted.append(is_quoted)
    template = row_template(names, quoted, b"" if plan.stamp is None else stamp_suffix(plan.stamp))
    rows = list(map(template.__mod__, zip(*fragments, strict=True)))
    positions = {name: i for i, name in enumerate(names)}
    index: dict[str, list[bytes]] = {}
    for attribute in plan.indexed:
        if attribute in positions:
            values: Sequence[Any] = sorted_columns[positions[attribute]]
        elif attribute in (CREATED, UPDATED) and plan.stamp is not None:
            values = [plan.stamp] * count
        else:
            continue
        entries = K.index_entries(values, keys_sorted)
        entries.sort()
        index[attribute] = entries
    return EncodedChunk(plan, list(names), keys_sorted, rows, index)
