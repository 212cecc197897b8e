"""Streaming CSV input: bytes → UTF-8 text blocks → chunks of parsed rows.

Input is read in 1 MiB blocks cut at line ends, decoded strictly as UTF-8 (a
leading BOM is dropped) and parsed by the stdlib ``csv`` reader in strict mode.
Rows come out in chunks of ``chunk_rows`` so the loader can cast and write a
chunk at a time; memory stays flat whatever the input size. A malformed input
raises ``CsvFormatError`` naming the data row (1 = the first row after the
header) and, when known, the physical line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLOCK_SIZE = 1 << 20
_MAX_LINE_BLOCK = 16 << 20  # a block that holds no line end is passed on at this size
FIELD_LIMIT = csv.field_size_limit()


class CsvFormatError(Exception):
    """The input is not valid CSV (or not UTF-8) at a given data row."""

    def __init__(self, cause: str, row: int, line: int | None) -> None:
        where = f"CSV row {row}" if row else "the CSV header"
        where += f" (line {line})" if line else ""
        super().__init__(f"{cause} at {where}")
        self.cause = cause
        self.row = row
        self.line = line


class _EncodingError(Exception):
    def __init__(self, offset: int, byte: int) -> None:
        super().__init__(f"invalid UTF-8 (byte 0x{byte:02x} at byte offset {offset})")


class TextBlocks(Iterator[str]):
    """The blocks of ``text_blocks``; ``source`` is the regular file they are read from, if any,
    while no block has been taken (the loader may then read the file another way).
    """

    def __init__(self, read: Callable[[int], bytes], blocks: Iterator[str]) -> None:
        owner = getattr(read, "__self__", None)
        self.source: BinaryIO | None = None
        if isinstance(owner, io.FileIO | io.BufferedReader) and read == owner.read:
            with contextlib.suppress(OSError, ValueError):
                if stat.S_ISREG(os.fstat(owner.fileno()).st_mode) and owner.tell() == 0:
                    self.source = owner
        self._blocks = blocks

    def __next__(self) -> str:
        self.source = None
        return next(self._blocks)


def text_blocks(
    read: Callable[[int], bytes],
    on_bytes: Callable[[int], None] | None = None,
    block_size: int = BLOCK_SIZE,
) -> TextBlocks:
    """Decoded text of a byte stream in blocks that end at a line end (``\\n``).

    ``read(n)`` returns up to n bytes (b"" at the end); ``on_bytes(n)`` is told of
    every n bytes read. Invalid UTF-8 raises after the blocks before its line.
    """
    return TextBlocks(read, _text_blocks(read, on_bytes, block_size))


def _text_blocks(
    read: Callable[[int], bytes], on_bytes: Callable[[int], None] | None, block_size: int
) -> Iterator[str]:
    pending = b""
    offset = 0  # stream offset of pending[0]
    first = True
    while True:
        data = read(block_size)
        if data:
            if on_bytes is not None:
                on_bytes(len(data))
            pending += data
            cut = pending.rfind(b"\n") + 1
            if cut == 0:
                if len(pending) < _MAX_LINE_BLOCK:
                    continue
                cut = len(pending)
                # do not split a multi-byte character
                while cut > 0 and pending[cut - 1] & 0xC0 == 0x80:
                    cut -= 1
                if cut > 0 and pending[cut - 1] >= 0xC0:
                    cut -= 1
        else:
            cut = len(pending)
            if cut == 0:
                return
        block, pending = pending[:cut], pending[cut:]
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            good = block.rfind(b"\n", 0, exc.start) + 1
            if good:
                yield _strip_bom(block[:good].decode("utf-8"), first)
            raise _EncodingError(offset + exc.start, block[exc.start]) from exc
        yield _strip_bom(text, first)
        first = False
        offset += cut
        if not data:
            return


def _strip_bom(text: str, first: bool) -> str:
    return text[1:] if first and text.startswith("\ufeff") else text


@dataclass
class RowChunk:
    """Rows parsed together; ``first_row`` numbers the first (0 = the header)."""

    rows: list[list[str]]
    first_row: int
    first_line: int
    lines: int  # physical lines the chunk spans

    def line_of(self, index: int) -> int | None:
        """The physical line of ``rows[index]``, when no row of the chunk spans several lines."""
        if self.lines == len(self.rows):
            return self.first_line + index
        return None


class CsvRows:
    """Chunks of raw CSV rows (lists of cell strings) from text blocks."""

    def __init__(self, blocks: Iterator[str], chunk_rows: int = 10_000) -> None:
        lines = itertools.chain.from_iterable(io.StringIO(block, newline="") for block in blocks)
        self._reader = csv.reader(lines, strict=True)
        self.chunk_rows = chunk_rows
        self.rows_read = 0  # rows (header included) taken from the reader

    def chunks(self) -> Iterator[RowChunk]:
        """Row chunks until the end of input; raises CsvFormatError on malformed input."""
        reader = self._reader
        while True:
            rows: list[list[str]] = []
            line_before = reader.line_num
            try:
                rows.extend(itertools.islice(reader, self.chunk_rows))
            except (csv.Error, _EncodingError) as exc:
                cause = _csv_cause(str(exc)) if isinstance(exc, csv.Error) else str(exc)
                line = line_before + 1 + len(rows) + sum(c.count("\n") for r in rows for c in r)
                if rows:
                    chunk = RowChunk(rows, self.rows_read, line_before + 1, line - line_before - 1)
                    self.rows_read += len(rows)
                    yield chunk
                raise CsvFormatError(cause, self.rows_read, line) from exc
            if not rows:
                return
            yield self._chunk(rows, line_before)

    def _chunk(self, rows: list[list[str]], line_before: int) -> RowChunk:
        chunk = RowChunk(rows, self.rows_read, line_before + 1, self._reader.line_num - line_before)
        self.rows_read += len(rows)
        return chunk


def _csv_cause(message: str) -> str:
    if message.startswith("unexpected end of data"):
        return "unterminated quoted field"
    if message.startswith("field larger than field limit"):
        return f"a field longer than {FIELD_LIMIT} characters (an unterminated quote?)"
    if "expected after" in message:
        return "unexpected character after a closing quote"
    return f"malformed CSV ({message})"
