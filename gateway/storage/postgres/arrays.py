"""PostgreSQL's binary array format, built whole for the array parameters of write statements.

psycopg dumps a list parameter element by element in Python; a group of a thousand
imported records sends several arrays of thousands of elements, so building each one
here with C-level iteration (``map``/``zip``/``join``, as :mod:`copyrows` does for
COPY) instead makes a statement's parameters several times cheaper. An array is a
``bytes`` subclass that :func:`register` teaches a connection to send as-is, in
binary (its placeholder is ``%b``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain
from typing import ClassVar

from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

_HEADER = struct.Struct(">iiiii")  # dimensions, has-nulls, element type, length, lower bound
_EMPTY = struct.Struct(">iii")
_LENGTH = struct.Struct(">i")
_INT4 = struct.Struct(">ii")  # an int4 element: its length (4), its value


class BinaryArray(bytes):
    """A one-dimensional array without nulls in PostgreSQL's binary format."""

    element: ClassVar[int]
    """The element type's oid."""
    oid: ClassVar[int]
    """The array type's oid."""

    @classmethod
    def of(cls, items: Sequence[bytes]) -> BinaryArray:
        """The array of ``items``, each already in the element type's binary form."""
        if not items:
            return cls(_EMPTY.pack(0, 0, cls.element))
        head = _HEADER.pack(1, 0, cls.element, len(items), 1)
        return cls(
            b"".join(
                chain(
                    (head,), chain.from_iterable(zip(map(_LENGTH.pack, map(len, items)), items, strict=True))
                )
            )
        )


class ByteaArray(BinaryArray):
    """``bytea[]``."""

    element, oid = 17, 1001


class TextArray(BinaryArray):
    """``text[]`` (elements: UTF-8)."""

    element, oid = 25, 1009


class Int4Array(BinaryArray):
    """``int4[]``."""

    element, oid = 23, 1007

    @classmethod
    def repeated(cls, runs: Sequence[tuple[int, int]]) -> Int4Array:
        """The array of each ``(value, count)`` run: ``value`` repeated ``count`` times."""
        total = sum(count for _, count in runs)
        if not total:
            return cls(_EMPTY.pack(0, 0, cls.element))
        parts = [_HEADER.pack(1, 0, cls.element, total, 1)]
        parts.extend(_INT4.pack(4, value) * count for value, count in runs)
        return cls(b"".join(parts))


def _dumper(array: type[BinaryArray]) -> type[Dumper]:
    class _Dumper(Dumper):
        format = Format.BINARY
        oid = array.oid

        def dump(self, obj: object) -> Buffer:
            assert isinstance(obj, bytes)
            return obj

    return _Dumper


def register(context: AdaptContext) -> None:
    """Let connections of ``context`` send the arrays of this module as they are."""
    for array in (ByteaArray, TextArray, Int4Array):
        context.adapters.register_dumper(array, _dumper(array))
