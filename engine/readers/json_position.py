"""Where a JSON data file went wrong: line, column and record number, found only on failure.

The readers parse in pieces and know a failure's byte offset in the file. Turning it
into a line and column means reading the file up to that offset again: that is done
once, when the batch has already failed, so the parse of a good file pays nothing.
Columns count characters (UTF-8 continuation bytes are not counted), from 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO

_CHUNK = 1 << 20
_CONTINUATION = bytes(range(0x80, 0xC0))


def line_and_column(open_file: Callable[[], IO[bytes]], offset: int) -> tuple[int, int]:
    """The 1-based line and column of byte ``offset`` of the file (a UTF-8 BOM is not a column)."""
    line, column, read = 1, 1, 0
    with open_file() as stream:
        while read < offset:
            chunk = stream.read(min(_CHUNK, offset - read))
            if not chunk:
                break
            if read == 0 and chunk.startswith(b"\xef\xbb\xbf"):
                column -= 1
            read += len(chunk)
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                chunk = chunk[chunk.rfind(b"\n") + 1 :]
                column = 1
            column += len(chunk.translate(None, _CONTINUATION))
    return line, column


def failing_element(text: str, position: int) -> int:
    """The 1-based number of the element of the array text ``[e1, e2, …`` that character
    ``position`` falls in (or where the element expected there would start)."""
    decoder = json.JSONDecoder()
    index, count = 1, 0
    while True:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        if index > position:
            return max(count, 1)
        count += 1
        try:
            _, index = decoder.raw_decode(text, index)
        except (ValueError, RecursionError):
            return count
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        if index >= len(text) or text[index] != ",":
            return count
        index += 1


def byte_offset(data: bytes, position: int) -> int:
    """The byte offset in UTF-8 ``data`` of character ``position`` (as the JSON parsers count)."""
    text = data.decode("utf-8", "surrogateescape")
    return len(text[:position].encode("utf-8", "surrogateescape"))
