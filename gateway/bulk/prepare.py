"""The parse phase of a CSV load: text blocks → header → parts of cast rows, ready to write.

``prepare`` runs either in the loading process or in a parse worker process
(``gateway.bulk.parseworker``); it imports nothing heavy. A part holds the cast
columns of full-width rows (the fast path) or the raw rows of a chunk that has
short rows; a malformed input ends the stream with a part carrying the error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.bulk.casting import cast_column
from gateway.bulk.csvsource import CsvFormatError, CsvRows
from gateway.storage.records import EncodedChunk

if TYPE_CHECKING:  # pyarrow stays out of parse worker processes
    from gateway.bulk.arrowencode import Column

CHUNK_ROWS = 10_000


@dataclass
class Part:
    """Rows to write (``columns`` or ``rows``) or, last of all, an ``error`` after them."""

    header: list[str]
    first_row: int  # CSV row number of the part's first row (the header is row 0)
    first_line: int | None  # its physical line, when every row of its chunk is one line
    positions: list[int] | None = None  # indexes of the non-blank rows when blank rows were dropped
    columns: list[Sequence[Any]] | None = None
    rows: list[list[str]] | None = None
    error: str | None = None
    cast: bool = True  # False: ``columns`` still hold the cells' text (cast by the writer)
    typed: list[Column] | None = None  # cast columns as Arrow arrays or lists (pyarrow's reader)
    encoded: EncodedChunk | None = None  # ``typed`` encoded for the store, when it can be

    def row_of(self, index: int) -> tuple[int, int | None]:
        """CSV row and line of the ``index``-th record written from this part."""
        offset = self.positions[index] if self.positions is not None else index
        line = None if self.first_line is None else self.first_line + offset
        return self.first_row + offset, line

    def to_wire(self) -> tuple[Any, ...]:
        """Builtin values for ``marshal`` (a parse worker's parts have no ``typed`` columns)."""
        return (
            self.header,
            self.first_row,
            self.first_line,
            self.positions,
            self.columns,
            self.rows,
            self.error,
            self.cast,
        )

    @classmethod
    def from_wire(cls, data: tuple[Any, ...]) -> Part:
        return cls(*data)


def where(cause: str, row: int, line: int | None) -> str:
    return f"{cause} at CSV row {row}" + (f" (line {line})" if line else "")


def prepare(blocks: Iterator[str], chunk_rows: int = CHUNK_ROWS, cast: bool = True) -> Iterator[Part]:
    """Parts of a CSV input, in order; a malformed input ends with an error part.

    ``cast=False`` leaves full-width columns as text (a parse worker does that so
    the casting happens in the writing process, which balances the two halves).
    """
    header: list[str] | None = None
    try:
        for chunk in CsvRows(blocks, chunk_rows).chunks():
            start = 0
            if header is None:
                while start < len(chunk.rows) and not chunk.rows[start]:
                    start += 1
                if start == len(chunk.rows):
                    continue
                header = chunk.rows[start]
                start += 1
            rows = chunk.rows[start:] if start else chunk.rows
            if not rows:
                continue
            single_lines = chunk.lines == len(chunk.rows)
            first_line = chunk.first_line + start if single_lines else None
            yield from _parts(header, rows, chunk.first_row + start, first_line, cast)
    except CsvFormatError as exc:
        yield Part(header or [], 0, None, error=str(exc))


def _parts(
    header: list[str], rows: list[list[str]], first_row: int, first_line: int | None, cast: bool
) -> Iterator[Part]:
    width = len(header)
    lengths = list(map(len, rows))
    if max(lengths) <= width:
        yield _part(header, rows, lengths, first_row, first_line, cast)
        return
    bad = next(i for i, n in enumerate(lengths) if n > width)
    if bad:
        yield _part(header, rows[:bad], lengths[:bad], first_row, first_line, cast)
    line = None if first_line is None else first_line + bad
    cause = f"{lengths[bad]} cells where the header has {width} columns"
    yield Part(header, first_row, first_line, error=where(cause, first_row + bad, line))


def _part(
    header: list[str],
    rows: list[list[str]],
    lengths: list[int],
    first_row: int,
    first_line: int | None,
    cast: bool,
) -> Part:
    positions = None
    if min(lengths) == 0:  # blank lines
        positions = [i for i, n in enumerate(lengths) if n]
        rows = [rows[i] for i in positions]
        lengths = [lengths[i] for i in positions]
        if not rows:
            return Part(header, first_row, first_line, positions=positions, rows=[])
    width = len(header)
    if min(lengths) == width and "" not in header and len(set(header)) == width:
        if not cast:
            return Part(header, first_row, first_line, positions, list(zip(*rows, strict=True)), cast=False)
        columns = [cast_column(column) for column in zip(*rows, strict=True)]
        return Part(header, first_row, first_line, positions=positions, columns=columns)
    return Part(header, first_row, first_line, positions=positions, rows=rows)
