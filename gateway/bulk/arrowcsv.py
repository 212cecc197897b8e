"""Fast path of CSV file loads: pyarrow's multithreaded C++ reader and whole-column casting.

``arrow_parts`` yields the same records (``gateway.bulk.prepare.Part``) as the
Python path would for the same file, only faster. It is used only when the two
parsers certainly agree, which a check of the raw bytes makes sure of (C-speed
regular expressions, a block at a time, in a background thread a little ahead
of the reader): every ``"`` belongs to a well-formed quoted field that starts
and ends a cell, no quoted cell holds a line end and there is no blank line.
Anything else, and any error pyarrow raises (ragged rows, invalid UTF-8, a cell
above the csv field limit), hands over to the Python path, which then skips the
records already written and names the bad row exactly as it always does.

Casting follows ``gateway.bulk.casting.cast_column``: uniform columns (integers,
decimals, true/false, ISO dates, text that cannot be cast) stay typed Arrow
arrays (``TypedColumn``, recognised with vectorised checks), and every other
column is cast by ``cast_column`` itself, so the stored values are identical.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gateway.bulk.arrowencode import Column, TypedColumn
from gateway.bulk.casting import SPECIAL_FIRST, SPECIAL_VALUES, cast_cells, cast_column
from gateway.bulk.csvsource import FIELD_LIMIT, text_blocks
from gateway.bulk.prepare import CHUNK_ROWS, Part, prepare
from gateway.jobs.progress import Progress

MIN_BYTES = 1 << 20  # smaller files: the Python path (no thread pool start-up)
_CHECK_BLOCK = 2 << 20
# A block in which every line is cells that are either unquoted without any ``"`` or quoted
# without a line end and closed right before a delimiter, no line is blank and no byte is NUL
# (RE2 syntax). The "plain" variant also has no character JSON escapes in any cell
# (``"`` other than the quotes, ``\\``, control characters).
_CELL = r'(?:[^",\r\n\x00]*|"(?:[^"\r\n\x00]|"")*")'
_FIRST_CELL = r'(?:[^",\r\n\x00]+|"(?:[^"\r\n\x00]|"")*")'  # a line of one cell is not blank
_PLAIN_CELL = r'(?:[^",\\\x00-\x1f]*|"[^"\\\x00-\x1f]*")'
_PLAIN_FIRST_CELL = r'(?:[^",\\\x00-\x1f]+|"[^"\\\x00-\x1f]*")'


def _lines_pattern(first: str, cell: str) -> str:
    line = r"(?:" + first + r"(?:," + cell + r")*|" + cell + r"(?:," + cell + r")+)"
    return r"\A(?:" + line + r"(?:\r\n|\n|\r))*\z"


_LINES = _lines_pattern(_FIRST_CELL, _CELL)
_PLAIN_LINES = _lines_pattern(_PLAIN_FIRST_CELL, _PLAIN_CELL)
_NUMBER_START = frozenset("+-.0123456789")
_DIGITS = frozenset("0123456789")
_FLOAT = r"^-?(?:0|[1-9][0-9]{0,14})\.[0-9]+$"
_INT_LIMIT = 10**15
# At most 15 digits: such a cell is integral exactly when its fraction is all zeros.
_FLOAT_CHARS = 16
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def agrees(handle: BinaryIO) -> bool:
    """Whether pyarrow and the strict Python reader certainly parse this file the same way."""
    return all(ok for _, ok, _ in _checked_blocks(handle.fileno()))


def _checked_blocks(fd: int) -> Iterator[tuple[int, bool, bool]]:
    """``(end, agrees, plain)`` for successive blocks of whole lines of the file, ``end`` its offset.

    ``agrees``: pyarrow and the Python reader parse the block's lines the same way
    (checking stops at the first block that fails); ``plain``: no cell in it holds
    a character JSON escapes (``"``, ``\\``, control characters). Each block is read
    once and checked in place (the lines after its last line end are read again
    with the next block).
    """
    offset = 0
    end = os.fstat(fd).st_size
    while True:
        data = os.pread(fd, _CHECK_BLOCK, offset)
        if not data:
            return
        size = data.rfind(b"\n") + 1  # the bytes of whole lines
        checked = size
        if size == 0:
            if offset + len(data) < end:
                yield offset, False, False  # a line longer than a block: leave it to the Python path
                return
            size = len(data)  # the file's last line, without a line end
            if data[-1:] != b"\r":
                data += b"\n"
            checked = len(data)
        plain = _matches(data, checked, _PLAIN_LINES)
        ok = plain or lines_agree(data, checked)
        offset += size
        yield offset, ok, plain
        if not ok:
            return


def _matches(data: bytes, length: int, pattern: str) -> bool:
    """Whether the first ``length`` bytes of ``data`` match ``pattern`` (RE2, without the GIL).

    The bytes are not copied: Arrow sees them as one binary value.
    """
    offsets = pa.py_buffer(np.array([0, length], dtype=np.int32))
    value = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(data)])
    return bool(pc.match_substring_regex(value, pattern)[0].as_py())


def lines_agree(block: bytes, length: int | None = None) -> bool:
    """Whether the lines of ``block`` (its first ``length`` bytes, whole lines) read alike in both readers.

    That is: no blank line, no NUL, and every quote belongs to a quoted cell that
    starts and ends a cell and holds no line end (two quotes inside it are an
    escaped quote).
    """
    return _matches(block, len(block) if length is None else length, _LINES)


class _Checker:
    """``_checked_blocks`` run by a background thread a little ahead of the reader.

    ``covers(offset)`` waits until every line before ``offset`` (or the whole file)
    is checked and says whether they all agree; ``plain`` holds for the lines
    checked so far. The regular expression runs without the GIL, on the core the
    writer leaves idle.
    """

    def __init__(self, fd: int) -> None:
        self._blocks = _checked_blocks(fd)
        self._state = threading.Condition()
        self._end = 0
        self._agrees = True
        self._finished = False
        self._stopped = False
        self.plain = True
        self._thread = threading.Thread(target=self._run, name="csv-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for end, ok, plain in self._blocks:
                with self._state:
                    if self._stopped:
                        return
                    self._end, self._agrees = end, self._agrees and ok
                    self.plain = self.plain and plain
                    self._state.notify_all()
        except (OSError, pa.ArrowException):
            with self._state:
                self._agrees = False
        finally:
            with self._state:
                self._finished = True
                self._state.notify_all()

    def covers(self, offset: int) -> bool:
        """Whether every line before ``offset`` is known to parse the same way (waits for the check)."""
        with self._state:
            self._state.wait_for(lambda: self._finished or not self._agrees or self._end >= offset)
            return self._agrees

    def stop(self) -> None:
        with self._state:
            self._stopped = True
        self._thread.join()


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
    if os.fstat(handle.fileno()).st_size < min_bytes:
        return None
    header = _header(handle)
    if header is None:
        return None
    first = next(_checked_blocks(handle.fileno()))
    if not first[1]:
        return None  # odd from the first lines on: the Python path (or its worker) from the start
    return _parts(handle, header, progress, chunk_rows)


def _parts(handle: BinaryIO, header: list[str], progress: Progress, chunk_rows: int) -> Iterator[Part]:
    handle.seek(0)
    string = pa.string()
    done = 0  # records yielded
    checker = _Checker(handle.fileno())
    try:
        source = _arrow_file(handle)
        reader = pacsv.open_csv(
            source,
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
            if not checker.covers(source.tell()):
                raise ValueError("the parsers may disagree")
            plain = checker.plain
            for start in range(0, batch.num_rows, 2 * chunk_rows):
                piece = batch.slice(start, 2 * chunk_rows)
                arrays = piece.columns
                if any(_too_long(array) for array in arrays):
                    raise ValueError("a cell above the field limit")
                typed = [cast_typed(array, plain) for array in arrays]
                count = piece.num_rows
                progress.bytes_read = source.tell()
                yield Part(header, done + 1, done + 2, typed=typed)
                done += count
    except (pa.ArrowException, ValueError, OSError):
        checker.stop()
        yield from _python_rest(handle, progress, done)
    finally:
        checker.stop()


def _arrow_file(handle: BinaryIO) -> Any:
    """An Arrow file reading the open file ``handle`` refers to.

    Arrow's own file (opened again through ``/proc/self/fd``, so the very file
    that was confined and opened) reads without taking the GIL; a Python file
    object is the fallback where ``/proc`` is missing.
    """
    path = f"/proc/self/fd/{handle.fileno()}"
    if os.path.exists(path):
        return pa.OSFile(path)
    return pa.PythonFile(handle, mode="r")


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


def cast_typed(array: Any, plain: bool = False) -> Column:
    """``cast_column`` of a pyarrow string array: a typed Arrow column when uniform, else a list.

    ``plain`` says no cell holds a character JSON escapes (``"``, ``\\``, control
    characters), so string cells are their own JSON text.
    """
    cells = _Cells.of(array)
    firsts = (None if cells is None else cells.ascii_firsts()) or _first_characters(array)
    if firsts.isdisjoint(_NUMBER_START) and not any(c.isspace() for c in firsts):
        if firsts.isdisjoint(SPECIAL_FIRST) or not pc.any(pc.is_in(array, value_set=_SPECIALS)).as_py():
            return TypedColumn("str", array, array if plain else _escaped(array))
        if _all(pc.is_in(array, value_set=_BOOLS)):
            return TypedColumn("bool", pc.equal(array, "true"))
        return cast_cells(array.to_pylist())
    if firsts <= _DIGITS | {"-"}:
        lengths = pc.min_max(pc.binary_length(array)).as_py()
        if firsts <= _DIGITS and lengths == {"min": 10, "max": 10} and _iso_dates(array, cells):
            return TypedColumn("str", array, array, dates=True)
        if not pc.any(pc.match_substring(array, ".")).as_py():
            integers = _canonical_integers(array, cells)
            if integers is not None:
                return TypedColumn("int", integers)
        elif lengths["max"] <= _FLOAT_CHARS and _all(pc.match_substring_regex(array, _FLOAT)):
            floats = pc.cast(array, pa.float64())
            return TypedColumn("float", floats, _float_json(array, floats))
    return list(cast_column(array.to_pylist()))


@dataclass
class _Cells:
    """The cells of a string array without nulls as numpy views: ``offsets`` (one more than cells) and bytes."""

    offsets: Any
    data: Any

    @classmethod
    def of(cls, array: Any) -> _Cells | None:
        validity, offsets, data = array.buffers()
        if validity is not None or data is None or not len(array):
            return None
        count = array.offset + len(array) + 1
        ends = np.frombuffer(offsets, dtype=np.int32, count=count)[array.offset :]
        return cls(ends, np.frombuffer(data, dtype=np.uint8))

    def ascii_firsts(self) -> set[str] | None:
        """The distinct first characters of the non-empty cells; None when one is not ASCII (or none)."""
        starts = self.offsets[:-1][self.offsets[:-1] < self.offsets[1:]]
        present = np.flatnonzero(np.bincount(self.data[starts], minlength=256))
        if not len(present) or present[-1] >= 0x80:
            return None
        return {chr(byte) for byte in present}

    def leading_zeros(self) -> bool:
        """Whether a cell of at least two characters starts with ``0`` or ``-0`` (cells are not empty)."""
        starts = self.offsets[:-1]
        first = self.data[starts]
        second = self.data[np.minimum(starts + 1, len(self.data) - 1)]
        long = (self.offsets[1:] - starts) > 1
        return bool(np.any(long & ((first == ord("0")) | ((first == ord("-")) & (second == ord("0"))))))

    def fixed(self, width: int) -> Any:
        """The cells as rows of a ``(cells, width)`` byte matrix (every cell is ``width`` bytes)."""
        return self.data[self.offsets[0] : self.offsets[-1]].reshape(-1, width)


def _first_characters(array: Any) -> set[str]:
    """The distinct first characters of the non-empty cells of a string array."""
    firsts = set(pc.unique(pc.utf8_slice_codeunits(array, 0, 1)).to_pylist())
    firsts.discard("")
    return firsts


def _iso_dates(array: Any, cells: _Cells | None) -> bool:
    """Whether every cell (all of ten characters) is ``YYYY-MM-DD`` in ASCII digits."""
    if cells is None:
        return _all(pc.match_substring_regex(array, _DATE))
    days = cells.fixed(10)
    digits = days[:, [0, 1, 2, 3, 5, 6, 8, 9]] - np.uint8(ord("0"))  # wraps below "0"
    return bool(np.all(days[:, [4, 7]] == ord("-")) and np.all(digits < 10))


def _canonical_integers(array: Any, cells: _Cells | None) -> Any | None:
    """The int64 array of cells that are all integers of at most 15 digits written as Python writes them, else None."""
    try:
        integers = pc.cast(array, pa.int64())
    except pa.ArrowInvalid:
        return None
    # Arrow reads [-]digits and 0x-hexadecimal: a canonical cell is one without a leading zero.
    if cells is not None:
        if cells.leading_zeros():
            return None
    elif not _all(pc.equal(pc.cast(integers, pa.string()), array)):
        return None
    bounds = pc.min_max(integers).as_py()
    if bounds["min"] <= -_INT_LIMIT or bounds["max"] >= _INT_LIMIT:
        return None
    return integers


def _escaped(array: Any) -> Any:
    """The JSON string bodies of a string array as orjson writes them; None if it has control characters."""
    if not pc.any(pc.match_substring_regex(array, r'[\x00-\x1f"\\]')).as_py():
        return array
    if pc.any(pc.match_substring_regex(array, r"[\x00-\x1f]")).as_py():
        return None
    return pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"), '"', '\\"')


def _float_json(cells: Any, floats: Any) -> Any:
    """orjson's text of the stored values of ``_FLOAT`` cells of at most 16 characters, or None.

    Such a cell has at most 15 significant digits, so no shorter text reads as the
    same double: without its fraction's trailing zeros (and without a fraction of
    only zeros: the value is stored as an integer) it is the shortest round-trip
    text, which orjson writes. Not so below 1e-5 (orjson writes exponents under
    1e-6) or for a negative zero: those columns go to orjson.
    """
    values = floats.to_numpy()
    if np.any((np.abs(values) < 1e-5) & (values != 0)):
        return None
    text = pc.ascii_rtrim(pc.ascii_rtrim(cells, "0"), ".")
    if pc.any(pc.equal(text, "-0")).as_py():
        return None
    return text


_SPECIALS = pa.array(list(SPECIAL_VALUES))
_BOOLS = pa.array(["true", "false"])
