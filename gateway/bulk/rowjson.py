"""A stored record's JSON built from column fragments, for whole chunks of a bulk load.

The bytes are exactly ``orjson.dumps`` of the record as the per-value write path
stores it (attributes in column order, then ``__createdtime__`` and
``__updatedtime__`` for tables without a schema): each column is turned into JSON
fragments at once and records are formatted from separators or a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.storage.records import CREATED, UPDATED

_BOOLEANS = {True: b"true", False: b"false"}


def json_fragments(values: Sequence[Any]) -> tuple[list[bytes], bool]:
    """JSON text of every value of a column, and whether they are strings given without quotes.

    Uniform columns are encoded with one ``orjson.dumps`` of the whole column and
    split: strings on the ``","`` that separates them (inside a JSON string every
    ``"`` is escaped, so the split is exact), numbers on ``,``.
    """
    if not values:
        return [], False
    kinds = set(map(type, values))
    if kinds == {str}:
        return orjson.dumps(values)[2:-2].split(b'","'), True
    if kinds <= {int, float}:
        return orjson.dumps(values)[1:-1].split(b","), False
    if kinds == {bool}:
        return list(map(_BOOLEANS.__getitem__, values)), False
    return list(map(orjson.dumps, values)), False


def row_separators(names: Sequence[str], quoted: Sequence[bool], suffix: bytes = b"") -> list[bytes]:
    """The JSON text around a record's column fragments: one more piece than there are columns.

    Joining them with each column's fragment in between gives the record's JSON
    (``quoted`` fragments are string bodies, so the separators carry their quotes);
    ``suffix`` goes after the last attribute.
    """
    separators = []
    text = b"{"
    for position, (name, is_quoted) in enumerate(zip(names, quoted, strict=True)):
        text += (b"," if position else b"") + orjson.dumps(name) + b":" + (b'"' if is_quoted else b"")
        separators.append(text)
        text = b'"' if is_quoted else b""
    separators.append(text + suffix + b"}")
    return separators


def row_template(names: Sequence[str], quoted: Sequence[bool], suffix: bytes = b"") -> bytes:
    """A ``bytes % tuple`` template writing one record's JSON from its column fragments."""
    return b"%b".join(part.replace(b"%", b"%%") for part in row_separators(names, quoted, suffix))


def stamp_suffix(stamp: float) -> bytes:
    """The JSON of a new record's ``__createdtime__`` and ``__updatedtime__`` (after its attributes)."""
    text = orjson.dumps(stamp)
    return b',"' + CREATED.encode() + b'":' + text + b',"' + UPDATED.encode() + b'":' + text
