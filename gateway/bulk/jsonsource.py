"""Streaming parse of a JSON array of records from text blocks (import_from_s3 ``.json``).

The array is decoded one element at a time with ``json.JSONDecoder.raw_decode``
over a sliding buffer, so memory holds one block plus one record whatever the
file size. A record nesting beyond the decoder's recursion is a JsonFormatError
(``JSON record N nests arrays and objects more than 128 levels deep``, the limit of
batch data files, :data:`engine.limits.MAX_RECORD_DEPTH`); the loader checks the
depth of the records that do decode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from engine.limits import MAX_RECORD_DEPTH

MAX_RECORD_CHARS = 64 << 20
TOO_DEEP = f"nests arrays and objects more than {MAX_RECORD_DEPTH} levels deep"
_WHITESPACE = " \t\n\r"


class JsonFormatError(Exception):
    """The input is not a JSON array of objects."""


class _Buffer:
    def __init__(self, blocks: Iterator[str]) -> None:
        self.blocks = blocks
        self.text = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the front of text
        self.done = False

    def more(self) -> bool:
        """Append the next block (dropping what was consumed); False at the end of input."""
        if self.done:
            return False
        block = next(self.blocks, None)
        if block is None:
            self.done = True
            return False
        self.consumed += self.pos
        self.text = self.text[self.pos :] + block
        self.pos = 0
        return True

    def skip_space(self) -> str:
        """The next non-blank character (reading more input as needed), '' at the end."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    @property
    def offset(self) -> int:
        return self.consumed + self.pos


def json_records(blocks: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The objects of a top-level JSON array; JsonFormatError names the problem and record."""
    buffer = _Buffer(blocks)
    decoder = json.JSONDecoder()
    if buffer.skip_space() == "\ufeff":
        buffer.pos += 1
    first = buffer.skip_space()
    if first == "":
        return
    if first != "[":
        raise JsonFormatError("a JSON file must hold an array of records")
    buffer.pos += 1
    count = 0
    while True:
        char = buffer.skip_space()
        if char == "]":
            buffer.pos += 1
            break
        if char == "":
            raise JsonFormatError(f"the JSON array ends without ']' after record {count}")
        if count:
            if char != ",":
                raise JsonFormatError(f"invalid JSON after record {count} (character offset {buffer.offset})")
            buffer.pos += 1
            if buffer.skip_space() == "]":
                raise JsonFormatError(f"invalid JSON: a comma after record {count} ends the array")
        while True:
            try:
                value, end = decoder.raw_decode(buffer.text, buffer.pos)
            except RecursionError:
                raise JsonFormatError(f"JSON record {count + 1} {TOO_DEEP}") from None
            except json.JSONDecodeError as exc:
                if len(buffer.text) - buffer.pos > MAX_RECORD_CHARS:
                    raise JsonFormatError(
                        f"JSON record {count + 1} is larger than {MAX_RECORD_CHARS} characters"
                    ) from exc
                if not buffer.more():
                    raise JsonFormatError(
                        f"invalid JSON in record {count + 1}: {exc.msg} "
                        f"(character offset {buffer.consumed + exc.pos})"
                    ) from exc
                continue
            # a value that ends exactly at the end of the buffer (a number) may go on in the next block
            if end == len(buffer.text) and buffer.more():
                continue
            break
        buffer.pos = end
        count += 1
        if not isinstance(value, dict):
            raise JsonFormatError(f"JSON record {count} is not an object")
        yield value
    if buffer.skip_space() != "":
        raise JsonFormatError(f"unexpected data after the JSON array (character offset {buffer.offset})")
