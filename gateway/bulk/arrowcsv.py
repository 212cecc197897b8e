"""Fast path of CSV file loads: pyarrow's multithreaded C++ reader and whole-column casting.

``arrow_parts`` yields the same parts (``gateway.bulk.prepare.Part``) as the
Python path would for the same file, only faster. It is used only when the two
parsers certainly agree, which a pre-pass over the raw bytes checks (C-speed
regular expressions, a block at a time): every ``"`` belongs to a well-formed
quoted field that starts and ends a cell, no quoted cell holds a line end and
there is no blank line. Anything else, and any error pyarrow raises (ragged
rows, invalid UTF-8, a cell above the csv field limit) hands over to the Python
path, which then skips the records already written and names the bad row
exactly as it always does.

Casting follows ``gateway.bulk.casting.cast_column``: uniform columns (integers,
decimals, true/false, ISO dates, text that cannot be cast) are recognised with
vectorised regular expressions, and every other column is cast by
``cast_column`` itself, so the stored values are identical.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from gateway.bulk.casting import SPECIAL_VALUES, cast_cells, cast_column
from gateway.bulk.csvsource import FIELD_LIMIT, text_blocks
from gateway.bulk.prepare import CHUNK_ROWS, Part, prepare
from gateway.bulk.progress import Progress

try:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
except ImportError:  # pragma: no cover - pyarrow is a dependency; the Python path still works
    pa = None

MIN_BYTES = 1 << 20  # smaller files: the Python path (no thread pool start-up)
_CHECK_BLOCK = 2 << 20
# A file in which every line is cells that are either unquoted without any ``"`` or quoted
# without a line end and closed right before a delimiter, and no line is blank (RE2 syntax,
# run by pyarrow).
_CELL = r'(?:[^",\r\n]*|"(?:[^"\r\n]|"")*")'
_FIRST_CELL = r'(?:[^",\r\n]+|"(?:[^"\r\n]|"")*")'  # a line of one cell is not blank
_LINE = r"(?:" + _FIRST_CELL + r"(?:," + _CELL + r")*|" + _CELL + r"(?:," + _CELL + r")+)"
_LINES = r"\A(?:" + _LINE + r"(?:\r\n|\n|\r))*\z"
_NUMBER_START = frozenset("+-.0123456789")
_DIGITS = frozenset("0123456789")
_INT = r"^-?(?:0|[1-9][0-9]{0,14})$"
_FLOAT = r"^-?(?:0|[1-9][0-9]{0,14})\.[0-9]+$"
_INTEGRAL_FRACTION = r"\.0+$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def available() -> bool:
    """Whether pyarrow is installed."""
    return pa is not None


def agrees(handle: BinaryIO) -> bool:
    """Whether pyarrow and the strict Python reader certainly parse this file the same way."""
    fd = handle.fileno()
    offset = 0
    pending = b""
    while True:
        data = os.pread(fd, _CHECK_BLOCK, offset)
        offset += len(data)
        block = pending + data
        if data:
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                return False  # a line longer than a block: leave it to the Python path
            block, pending = block[:cut], block[cut:]
        if not data and block and block[-1:] not in (b"\n", b"\r"):
            block += b"\n"
        if b"\x00" in block:
            return False
        if not pc.match_substring_regex(pa.array([block], pa.binary()), _LINES)[0].as_py():
            return False
        if not data:
            return True


def _header(handle: BinaryIO) -> list[str] | None:
    """The header as the Python reader parses it, when it is plain (one line, unique names)."""
    line = os.pread(handle.fileno(), 1 << 16, 0).split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8").removeprefix("\ufeff").rstrip("\r")
    except UnicodeDecodeError:
        return None
    rows = list(csv.reader(io.StringIO(text), strict=True))
    if len(rows) != 1:
        return None
    header = rows[0]
    if not header or "" in header or len(set(header)) != len(header):
        return None
    return header


def arrow_parts(
    handle: BinaryIO, progress: Progress, chunk_rows: int = CHUNK_ROWS, min_bytes: int = MIN_BYTES
) -> Iterator[Part] | None:
    """Parts of the CSV file open as ``handle`` read by pyarrow; None when it cannot be used."""
    if pa is None or os.fstat(handle.fileno()).st_size < min_bytes:
        return None
    header = _header(handle)
    if header is None or not agrees(handle):
        return None
    return _parts(handle, header, progress, chunk_rows)


def _parts(handle: BinaryIO, header: list[str], progress: Progress, chunk_rows: int) -> Iterator[Part]:
    handle.seek(0)
    string = pa.string()
    done = 0  # records yielded
    try:
        reader = pacsv.open_csv(
            pa.PythonFile(handle, mode="r"),
            read_options=pacsv.ReadOptions(block_size=1 << 20, use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, string),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if reader.schema.names != header:
            reader.close()
            raise ValueError("header differs")
        for batch in reader:
            for start in range(0, batch.num_rows, 2 * chunk_rows):
                piece = batch.slice(start, 2 * chunk_rows)
                arrays = piece.columns
                if any(_too_long(array) for array in arrays):
                    raise ValueError("a cell above the field limit")
                columns = [cast_array(array) for array in arrays]
                count = piece.num_rows
                progress.bytes_read = handle.tell()
                yield Part(header, done + 1, done + 2, columns=columns)
                done += count
    except (pa.ArrowException, ValueError, OSError):
        yield from _python_rest(handle, progress, done)


def _too_long(array: Any) -> bool:
    longest = pc.max(pc.binary_length(array)).as_py()
    return longest is not None and longest > FIELD_LIMIT


def _python_rest(handle: BinaryIO, progress: Progress, skip: int) -> Iterator[Part]:
    """The Python path over the whole file, without its first ``skip`` records."""
    handle.seek(0)
    progress.bytes_read = 0
    for part in prepare(text_blocks(handle.read, progress.add_bytes)):
        if skip and part.error is None:
            rest, skip = _drop(part, skip)
            if rest is not None:
                yield rest
            continue
        yield part


def _drop(part: Part, skip: int) -> tuple[Part | None, int]:
    """``part`` without its first ``skip`` records (None when it has no more) and what is left to skip."""
    count = len(part.columns[0]) if part.columns is not None else len(part.rows or [])
    if count <= skip:
        return None, skip - count
    if part.positions is not None:
        part.positions = part.positions[skip:]
    else:
        part.first_row += skip
        part.first_line = None if part.first_line is None else part.first_line + skip
    if part.columns is not None:
        part.columns = [column[skip:] for column in part.columns]
    else:
        part.rows = (part.rows or [])[skip:]
    return part, 0


def _all(mask: Any) -> bool:
    return bool(pc.all(mask).as_py())


def cast_array(array: Any) -> Sequence[Any]:
    """``cast_column`` of a pyarrow string array, vectorised for uniform columns."""
    firsts = set(pc.unique(pc.utf8_slice_codeunits(array, 0, 1)).to_pylist())
    firsts.discard("")
    if firsts.isdisjoint(_NUMBER_START) and not any(c.isspace() for c in firsts):
        if not pc.any(pc.is_in(array, value_set=_SPECIALS)).as_py():
            return list(array.to_pylist())
        if _all(pc.is_in(array, value_set=_BOOLS)):
            return list(pc.equal(array, "true").to_pylist())
        return cast_cells(array.to_pylist())
    if firsts <= _DIGITS | {"-"}:
        if firsts <= _DIGITS and _all(pc.match_substring_regex(array, _DATE)):
            return list(array.to_pylist())
        if _all(pc.match_substring_regex(array, _INT)):
            return list(pc.cast(array, pa.int64()).to_pylist())
        if _all(pc.match_substring_regex(array, _FLOAT)):
            floats: list[Any] = pc.cast(array, pa.float64()).to_pylist()
            integral = pc.match_substring_regex(array, _INTEGRAL_FRACTION)
            if pc.any(integral).as_py():
                for index in pc.indices_nonzero(integral).to_pylist():
                    floats[index] = int(floats[index])
            return floats
    return cast_column(array.to_pylist())


_SPECIALS = pa.array(list(SPECIAL_VALUES)) if pa is not None else None
_BOOLS = pa.array(["true", "false"]) if pa is not None else None
