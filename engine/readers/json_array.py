"""Streaming a top-level JSON array in validated pieces, with bounded memory.

The first pass cuts the array into pieces of about :data:`CHUNK_SIZE` bytes at
top-level commas and parses each piece as ``[piece]`` with orjson. A candidate cut
is found cheaply (the last ``},{`` with optional whitespace); it is right exactly
when ``[piece]`` parses, because a comma inside a string or a nested value leaves
an unclosed string or bracket in the piece. When the cheap candidate fails (or the
elements are not objects), the stdlib decoder walks the elements to find a cut.
The byte offsets of the cuts are recorded, so the second pass cuts at the same
places and only parses. The first pass also refuses a record nesting more than
:data:`~engine.limits.MAX_RECORD_DEPTH` levels (one ``orjson.dumps`` per piece).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from engine.errors import BatchError
from engine.limits import MAX_RECORD_DEPTH, first_too_deep
from engine.readers.base import CHUNK_SIZE
from engine.readers.json_position import byte_offset, failing_element, line_and_column

BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"
_WS_CODES = frozenset(_WS)
_SCAN_LIMIT = 256


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid literal {name}")


class TooDeep(ValueError):
    """The JSON nests arrays and objects beyond what the parsers take (orjson: 1,024 levels).

    ``pos`` is where orjson stopped, in characters from the start of the parsed text.
    """

    def __init__(self, error: orjson.JSONDecodeError) -> None:
        super().__init__(error.msg)
        self.pos = error.pos


def too_deep_message(kind: str, name: str, where: str = "") -> str:
    """``JSON file <name>[ record N] nests arrays and objects more than 128 levels deep``."""
    return f"{kind} file {name}{where} nests arrays and objects more than {MAX_RECORD_DEPTH} levels deep"


def loads(data: bytes) -> Any:
    """Parse strict JSON (orjson; the stdlib for integers beyond 64 bits). Raises JSONDecodeError,
    or TooDeep for nesting beyond the parsers' limits."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as fast_error:
        if "depth limit exceeded" in fast_error.msg:
            raise TooDeep(fast_error) from None
        try:
            return json.loads(data, parse_constant=_reject_constant)
        except RecursionError:
            raise TooDeep(fast_error) from None
        except (ValueError, UnicodeDecodeError):
            raise fast_error from None


def describe_error(error: ValueError) -> str:
    """A short description of a parse error of a whole JSON document: ``line 2, column 5: …``."""
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    return str(error)


def check_depth(kind: str, name: str, records: list[Any], first: int) -> None:
    """BatchError naming the record (``first`` is the number of ``records[0]``) nesting too deeply."""
    index = first_too_deep(records, MAX_RECORD_DEPTH)
    if index is not None:
        raise BatchError(too_deep_message(kind, name, f" record {first + index}"))


def _candidate(buf: bytes) -> int | None:
    """The last comma of the buffer that sits between ``}`` and ``{`` (whitespace allowed)."""
    end = len(buf)
    for _ in range(_SCAN_LIMIT):
        comma = buf.rfind(b",", 0, end)
        if comma < 0:
            return None
        end = comma
        before = comma - 1
        while before >= 0 and buf[before] in _WS_CODES:
            before -= 1
        if before < 0 or buf[before] != 0x7D:  # '}'
            continue
        after = comma + 1
        while after < len(buf) and buf[after] in _WS_CODES:
            after += 1
        if after < len(buf) and buf[after] == 0x7B:  # '{'
            return comma
    return None


def _walk(buf: bytes) -> int | None:
    """The last top-level comma of the buffer, found by decoding elements one by one."""
    text, _ = codecs.utf_8_decode(buf, "surrogateescape", False)
    decoder = json.JSONDecoder()
    size = len(text)
    index = _skip_ws(text, 0)
    last: int | None = None
    while index < size:
        try:
            _, end = decoder.raw_decode(text, index)
        except (ValueError, RecursionError):
            break
        after = _skip_ws(text, end)
        if after < size and text[after] == ",":
            last = after
            index = _skip_ws(text, after + 1)
        else:
            break
    if last is None:
        return None
    return len(text[:last].encode("utf-8", "surrogateescape"))


def _skip_ws(text: str, index: int) -> int:
    size = len(text)
    while index < size and text[index] in " \t\r\n":
        index += 1
    return index


class ArrayPieces:
    """Parses one top-level JSON array from a byte stream in pieces (lists of elements).

    ``open_file`` re-opens the file, to say on which line and column a parse failed.
    """

    def __init__(self, name: str, open_file: Callable[[], IO[bytes]]) -> None:
        self.name = name
        self.open_file = open_file
        self.cuts: list[int] = []
        self.count = 0  # records parsed by the first pass so far

    def _where(self, offset: int, record: int | None = None) -> str:
        """``line L, column C[, record R]`` of byte ``offset`` of the file."""
        line, column = line_and_column(self.open_file, max(offset, 0))
        return f"line {line}, column {column}" + (f", record {record}" if record is not None else "")

    def _fail(self, error: ValueError, data: bytes, start: int) -> BatchError:
        """The BatchError for ``data`` (``[`` + a piece, ``start``: the file offset of ``data[0]``)."""
        position = getattr(error, "pos", None)
        if not isinstance(position, int):
            return BatchError(f"JSON file {self.name} is not valid JSON: {error}")
        offset = start + byte_offset(data, position)
        if isinstance(error, TooDeep):
            return BatchError(too_deep_message("JSON", self.name) + f" (near byte {max(offset, 0)})")
        record = self.count + failing_element(data.decode("utf-8", "surrogateescape"), position)
        message = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        return BatchError(
            f"JSON file {self.name} is not valid JSON: {self._where(offset, record)}: {message}"
        )

    def _parse_piece(self, piece: bytes, offset: int) -> list[Any]:
        data = b"[" + piece + b"]"
        try:
            parsed: list[Any] = loads(data)
        except ValueError as error:
            raise self._fail(error, data, offset - 1) from None
        return parsed

    def first_pass(self, stream: IO[bytes], buf: bytes, base: int) -> Iterator[list[Any]]:
        """Parse the array after its ``[`` (``buf`` starts at file offset ``base``), recording cuts.

        When no cut is found (an element longer than the buffer), the next attempt
        waits until the buffer has doubled, so an element of any size is searched
        a logarithmic number of times and read in linear time.
        """
        pending = _Pending(buf)
        attempt_at = CHUNK_SIZE
        while True:
            chunk = stream.read(CHUNK_SIZE)
            if not chunk:
                break
            pending.add(chunk)
            if pending.size < attempt_at:
                continue
            buf = pending.joined()
            found = self._find_cut(buf, base)
            if found is None:
                attempt_at = 2 * pending.size
                continue
            cut, records = found
            self.cuts.append(base + cut)
            yield self._checked(records)
            pending = _Pending(buf[cut + 1 :])
            base += cut + 1
            attempt_at = CHUNK_SIZE
        yield self._checked(self._last_piece(pending.joined(), base))

    def _checked(self, records: list[Any]) -> list[Any]:
        """``records`` once none nests more than ``MAX_RECORD_DEPTH`` levels (BatchError naming it)."""
        check_depth("JSON", self.name, records, self.count + 1)
        self.count += len(records)
        return records

    def _find_cut(self, buf: bytes, base: int) -> tuple[int, list[Any]] | None:
        cut = _candidate(buf)
        if cut is not None:
            try:
                parsed = loads(b"[" + buf[:cut] + b"]")
            except ValueError:  # TooDeep too: a wrong cut may read string text as brackets
                pass
            else:
                if parsed:
                    return cut, parsed
        cut = _walk(buf)
        if cut is None:
            return None
        records = self._parse_piece(buf[:cut], base)
        if not records:
            where = self._where(base, self.count + 1)
            raise BatchError(f"JSON file {self.name} is not valid JSON: {where}: empty array element")
        return cut, records

    def _last_piece(self, buf: bytes, base: int) -> list[Any]:
        data = b"[" + buf
        try:
            records = loads(data)
        except ValueError as error:
            raise self._fail(error, data, base - 1) from None
        if not isinstance(records, list):  # pragma: no cover - "[" always gives a list
            raise BatchError(f"JSON file {self.name} is not valid JSON")
        if not records and self.cuts:
            where = self._where(base - 1)
            raise BatchError(f"JSON file {self.name} is not valid JSON: {where}: trailing comma")
        return records

    def second_pass(
        self, stream: IO[bytes], buf: bytes, base: int, hinted: bool = False
    ) -> Iterator[list[Any]]:
        """Parse the array again, cutting at the offsets recorded by :meth:`first_pass`.

        ``hinted``: the offsets came from an earlier run's check (:meth:`take_cuts`), not this
        run's. Each cut is then validated as it is used (a comma, and a piece that parses as a
        non-empty list: a comma inside a string or a nested value leaves it unclosed), each
        piece's nesting depth is checked, and at the first cut that does not fit the rest of
        the file is read as the first pass reads it (finding its own cuts, reporting its errors).
        """
        cuts = iter(self.cuts)
        next_cut = next(cuts, None)
        pending = _Pending(buf)
        self.count = used = 0
        while True:
            chunk = stream.read(CHUNK_SIZE)
            if chunk:
                pending.add(chunk)
            if next_cut is not None and next_cut - base < pending.size:
                buf = pending.joined()
                while next_cut is not None and next_cut - base < len(buf):
                    cut = next_cut - base
                    if not hinted:
                        piece = self._parse_piece(buf[:cut], base)
                        self.count += len(piece)
                        yield piece
                    else:
                        checked = self._hinted_piece(buf, cut)
                        if checked is None:  # a stale or wrong hint: read the rest as a first pass
                            del self.cuts[used:]
                            yield from self.first_pass(stream, buf, base)
                            return
                        yield self._checked(checked)
                    used += 1
                    buf = buf[cut + 1 :]
                    base = next_cut + 1
                    next_cut = next(cuts, None)
                pending = _Pending(buf)
            if not chunk:
                break
        last = self._last_piece(pending.joined(), base)
        yield self._checked(last) if hinted else last

    @staticmethod
    def _hinted_piece(buf: bytes, cut: int) -> list[Any] | None:
        """The elements before a hinted cut at ``buf[cut]``, or None if it is not a top-level comma."""
        if cut <= 0 or buf[cut] != 0x2C:  # ','
            return None
        try:
            records = loads(b"[" + buf[:cut] + b"]")
        except ValueError:
            return None
        return records if type(records) is list and records else None

    def take_cuts(self, cuts: object, size: int) -> bool:
        """Use ``cuts`` (an earlier check's :attr:`cuts` of a file of ``size`` bytes) for the
        second pass, if they are increasing offsets inside the file."""
        if not isinstance(cuts, list) or not all(type(c) is int for c in cuts):
            return False
        if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)) or (
            cuts and not 0 < cuts[0] <= cuts[-1] < size
        ):
            return False
        self.cuts = list(cuts)
        return True


class _Pending:
    """Bytes read but not yet cut, kept as a list of chunks until needed whole (no quadratic copying)."""

    def __init__(self, data: bytes) -> None:
        self._chunks = [data]
        self.size = len(data)

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self.size += len(chunk)

    def joined(self) -> bytes:
        """The bytes as one object (joined once; kept joined for later calls)."""
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]


def open_array(stream: IO[bytes]) -> tuple[bytes, int] | None:
    """Skip a BOM and whitespace; if the document is an array, the bytes after ``[`` and their offset."""
    buf = stream.read(CHUNK_SIZE)
    offset = 0
    if buf.startswith(BOM):
        buf, offset = buf[3:], 3
    while True:
        stripped = buf.lstrip(_WS)
        offset += len(buf) - len(stripped)
        buf = stripped
        if buf:
            break
        buf = stream.read(CHUNK_SIZE)
        if not buf:
            return None
    if buf[0] != 0x5B:  # '['
        return None
    return buf[1:], offset + 1
