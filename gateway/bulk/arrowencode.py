"""Whole-chunk encoding of bulk-load records held as Arrow arrays (pyarrow + numpy).

``encode_chunk`` turns a chunk of typed columns into what the store writes for new
records: the encoded primary keys in key order, each record's JSON in the same
order and the sorted index entries of every indexed attribute, all as Arrow
binary arrays built by C++ and numpy kernels instead of Python code per record.
The bytes are exactly those of the per-value path (``gateway.storage.keys``,
``gateway.bulk.rowjson``, ``orjson``): a column the kernels cannot encode
exactly is either encoded by ``rowjson.json_fragments`` or makes ``encode_chunk``
answer None, and the caller then writes the chunk the per-value way. Declared
types are checked with the entries of ``gateway.storage.harper_types``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gateway.bulk.rowjson import json_fragments, row_separators, stamp_suffix
from gateway.storage import keys as K
from gateway.storage.harper_types import ASCII_ISO_DATE, HARPER_TYPES, columns_types_ok
from gateway.storage.records import CREATED, UPDATED, ChunkPlan, EncodedChunk

Kind = Literal["int", "float", "bool", "str"]
_BINARY = pa.binary()
_SIGN = np.uint64(1 << 63)
_SHIFT = np.uint64(63)
_FEW = 8  # a column with at most one distinct value per this many records: see index_entries
_KEY = np.dtype([("tag", "u1"), ("bits", ">u8")])
_PYTHON_KIND = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass
class TypedColumn:
    """A uniform column of cast CSV values as an Arrow array.

    ``values`` is int64 (``int``), float64 (``float``), bool or string. ``json`` is
    each value's JSON text when known exactly without orjson (for strings: the
    escaped body, without quotes), else None. In a ``float`` column, integral
    values are stored as integers (``2.0`` → 2), as the per-value caster does.
    """

    kind: Kind
    values: Any
    json: Any = None
    dates: bool = False  # every value is a ``YYYY-MM-DD`` string (ASCII digits)

    def to_python(self) -> list[Any]:
        """The values as the per-value path holds them."""
        values: list[Any] = self.values.to_pylist()
        if self.kind == "float":
            values = [int(v) if v.is_integer() and abs(v) <= 2**53 else v for v in values]
        return values

    def take(self, order: Any) -> TypedColumn:
        json = None if self.json is None else self.json.take(order)
        return TypedColumn(self.kind, self.values.take(order), json, self.dates)


Column = TypedColumn | list[Any]


def python_columns(columns: Sequence[Column]) -> list[Sequence[Any]]:
    """Every column as a Python list (for the per-value write path)."""
    return [c.to_python() if isinstance(c, TypedColumn) else c for c in columns]


def number_keys(values: Any) -> Any:
    """Order-preserving keys (``keys.encode_key``) of an int64 or float64 array without nulls/NaN/inf."""
    doubles = values.to_numpy(zero_copy_only=False).astype(np.float64) + 0.0  # -0.0 → 0.0
    bits = doubles.view(np.uint64)
    encoded = np.empty(len(bits), dtype=_KEY)
    encoded["tag"] = K.NUMBER
    encoded["bits"] = np.where(bits >> _SHIFT, ~bits, bits | _SIGN)
    fixed = pa.Array.from_buffers(pa.binary(9), len(bits), [None, pa.py_buffer(encoded.tobytes())])
    return fixed.cast(_BINARY)


def string_keys(values: Any) -> Any | None:
    """Keys of a string array; None when a value holds NUL (escaped by the per-value path)."""
    if pc.any(pc.match_substring(values, "\x00")).as_py():
        return None
    return pc.binary_join_element_wise(
        pa.scalar(K.STRING_PREFIX, _BINARY),
        values.cast(_BINARY),
        pa.scalar(K.STRING_TERMINATOR, _BINARY),
        b"",
    )


def column_keys(column: Column) -> Any | None:
    """Encoded keys of every value of a column, or None when it has no exact vectorised encoding."""
    if not isinstance(column, TypedColumn):
        return None
    if column.kind in ("int", "float"):
        if column.kind == "float" and not pc.all(pc.is_finite(column.values)).as_py():
            return None
        return number_keys(column.values)
    if column.kind == "str":
        return string_keys(column.values)
    return pc.if_else(column.values, pa.scalar(K.TRUE, _BINARY), pa.scalar(K.FALSE, _BINARY))


def _column_types_ok(column: Column, type_name: str) -> bool:
    """Whether a column certainly has the declared type (False: check record by record)."""
    if not isinstance(column, TypedColumn):
        return columns_types_ok(["c"], [column], {"c": type_name})
    entry = HARPER_TYPES.get(type_name)
    if entry is None:
        return False
    if entry.kinds is None:
        return True
    kind = _PYTHON_KIND[column.kind]
    if kind not in entry.kinds:
        return False
    if entry.integer_bounds is not None and kind in (int, float):
        if kind is float:  # whole values are not known without a look at each: record by record
            return False
        low, high = entry.integer_bounds
        bounds = pc.min_max(column.values).as_py()
        return bool(low <= bounds["min"] and bounds["max"] <= high)
    if entry.date_strings and kind is str and not column.dates:
        return bool(pc.all(pc.match_substring_regex(column.values, ASCII_ISO_DATE)).as_py())
    return True


def _json_piece(column: Column) -> tuple[Any, bool]:
    """A column's JSON fragments as a binary array, and whether they go between quotes."""
    if isinstance(column, TypedColumn):
        if column.kind == "str" and column.json is not None:
            return column.json.cast(_BINARY), True
        if column.kind == "int":
            return pc.cast(column.values, pa.string()).cast(_BINARY), False
        if column.kind == "float" and column.json is not None:
            return column.json.cast(_BINARY), False
        if column.kind == "bool":
            return pc.if_else(column.values, pa.scalar(b"true", _BINARY), pa.scalar(b"false", _BINARY)), False
        values = column.to_python()
    else:
        values = column
    fragments, quoted = json_fragments(values)
    return pa.array(fragments, _BINARY), quoted


def _row_json(names: Sequence[str], columns: Sequence[Column], suffix: bytes) -> Any:
    """Each record's JSON: the separators and the columns' fragments, interleaved by one Arrow ``take``.

    The pieces of a record are taken in order from one array holding the
    separators and every column's fragments, so the result's data buffer is the
    records' JSON back to back; every ``width``-th offset of it starts a record.
    """
    pieces = [_json_piece(column) for column in columns]
    separators = row_separators(names, [quoted for _, quoted in pieces], suffix)
    count = len(pieces[0][0])
    width = len(separators) + len(pieces)
    source = pa.concat_arrays([pa.array(separators, _BINARY), *(fragments for fragments, _ in pieces)])
    order = np.empty((count, width), dtype=np.int32)
    order[:, 0::2] = np.arange(len(separators), dtype=np.int32)
    order[:, 1::2] = np.arange(count, dtype=np.int32)[:, None] + (
        len(separators) + np.arange(len(pieces), dtype=np.int32) * count
    )
    taken = source.take(pa.array(order.ravel()))
    offsets = np.frombuffer(taken.buffers()[1], dtype=np.int32, count=count * width + 1)[::width]
    return pa.Array.from_buffers(
        _BINARY, count, [None, pa.py_buffer(np.ascontiguousarray(offsets)), taken.buffers()[2]]
    )


def _sorted_unique(keys: Any, column: Column) -> tuple[bool, Any | None]:
    """(whether the keys are unique, None if already ascending else the order that sorts them)."""
    if isinstance(column, TypedColumn) and column.kind == "int":
        values = column.values.to_numpy(zero_copy_only=False)
        if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
            return True, None
    order = pc.sort_indices(keys)
    ordered = keys.take(order)
    if len(ordered) > 1 and pc.any(pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))).as_py():
        return False, order
    return True, order


def index_entries(column: Column, keys: Any) -> Any | None:
    """The sorted index keys (value key + primary key) of a column of records whose ``keys`` ascend.

    None when the column has no exact vectorised encoding. A column of few
    distinct strings, integers or booleans is encoded through its dictionary: each distinct
    value once, and the records ordered by a stable sort of their value's rank
    (equal values keep their ascending primary keys).
    """
    if isinstance(column, TypedColumn) and column.kind in ("str", "int", "bool"):
        coded = pc.dictionary_encode(column.values)
        if len(coded.dictionary) * _FEW <= len(coded):
            value_keys = column_keys(TypedColumn(column.kind, coded.dictionary))
            if value_keys is None:
                return None
            rank = np.empty(len(value_keys), dtype=np.uint16 if len(value_keys) <= 1 << 16 else np.int64)
            rank[pc.sort_indices(value_keys).to_numpy()] = np.arange(len(value_keys))
            codes = coded.indices.to_numpy()
            order = np.argsort(rank[codes], kind="stable")
            return pc.binary_join_element_wise(value_keys.take(codes[order]), keys.take(order), b"")
    values = column_keys(column)
    if values is None:
        return None
    entries = pc.binary_join_element_wise(values, keys, b"")
    return entries.take(pc.sort_indices(entries))


def encode_chunk(names: list[str], columns: list[Column], plan: ChunkPlan) -> EncodedChunk | None:
    """The chunk's new records encoded for the store, or None to write it the per-value way.

    None when the primary key column is missing or not uniformly int/float/string
    (or holds ``""``), keys repeat, a declared type is not certainly met, or an
    indexed column has no exact vectorised encoding.
    """
    if plan.primary_key not in names or len(set(names)) != len(names) or not columns:
        return None
    pk_column = columns[names.index(plan.primary_key)]
    if not isinstance(pk_column, TypedColumn) or pk_column.kind == "bool":
        return None
    if pk_column.kind == "str" and pc.any(pc.equal(pk_column.values, "")).as_py():
        return None
    keys = column_keys(pk_column)
    if keys is None:
        return None
    for name, type_name in plan.types.items():
        if name in names and not _column_types_ok(columns[names.index(name)], type_name):
            return None
    unique, order = _sorted_unique(keys, pk_column)
    if not unique:
        return None
    if order is not None:
        keys = keys.take(order)
        columns = [
            c.take(order) if isinstance(c, TypedColumn) else [c[i] for i in order.to_pylist()]
            for c in columns
        ]
    index: dict[str, Any] = {}
    for attribute in plan.indexed:
        if attribute in names:
            entries = index_entries(columns[names.index(attribute)], keys)
            if entries is None:
                return None
        elif plan.stamp is not None and attribute in (CREATED, UPDATED):
            entries = pc.binary_join_element_wise(pa.scalar(K.encode_key(plan.stamp), _BINARY), keys, b"")
        else:
            continue
        index[attribute] = entries.to_pylist()
    rows = _row_json(names, columns, b"" if plan.stamp is None else stamp_suffix(plan.stamp))
    # Python bytes are made here, in the encoding thread, so the writer only puts them.
    return EncodedChunk(plan, list(names), keys.to_pylist(), rows.to_pylist(), index)
