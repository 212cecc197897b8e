"""PostgreSQL's binary ``COPY`` format for a table's relations, built a chunk at a time.

Binary COPY needs no escaping: each row is its field count, then each field's
length and bytes. Records are ``(k bytea, r text)``;
index entries ``(a integer, e bytea)``. The payloads are built with C-level
iteration (``map``/``zip``/``join``), not a Python loop per row.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from itertools import chain, repeat

from psycopg import Connection

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""Signature, flags (none) and header-extension length (none)."""
TRAILER = b"\xff\xff"
_ROW = struct.Struct(">hi")  # two fields, then the first field's length
_LENGTH = struct.Struct(">i")


def records_payload(keys: Sequence[bytes], rows: Sequence[bytes]) -> bytes:
    """``(k, r)`` rows: encoded keys and record JSON, aligned."""
    fields = zip(
        map(_ROW.pack, repeat(2), map(len, keys)), keys, map(_LENGTH.pack, map(len, rows)), rows, strict=True
    )
    return b"".join(chain((HEADER,), chain.from_iterable(fields), (TRAILER,)))


def index_payload(entries: Iterable[tuple[int, Sequence[bytes]]]) -> bytes:
    """``(a, e)`` rows: each attribute id with its index entries."""
    parts = [HEADER]
    for attribute_id, keys in entries:
        prefix = struct.pack(">hii", 2, 4, attribute_id)
        parts.extend(chain.from_iterable(zip(repeat(prefix), map(_LENGTH.pack, map(len, keys)), keys)))
    parts.append(TRAILER)
    return b"".join(parts)


def unique_sorted(keys: list[bytes]) -> list[bytes]:
    """``keys`` sorted without repeats (an array with a repeated element indexes it once)."""
    keys.sort()
    if any(map(bytes.__eq__, keys, keys[1:])):
        return sorted(set(keys))
    return keys


def copy_in(conn: Connection[tuple[object, ...]], statement: bytes, payload: bytes) -> None:
    """Send one binary COPY payload (``statement`` is ``COPY … FROM STDIN (FORMAT BINARY)``)."""
    with conn.cursor().copy(statement) as copy:
        copy.write(payload)
