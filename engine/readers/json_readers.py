"""The ``json`` reader (spec §3.1) and the ``jsonl`` reader (one JSON value per line)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.errors import BatchError
from engine.jsvalues import js_truthy
from engine.limits import MAX_RECORD_DEPTH, first_too_deep
from engine.ports import BatchFile
from engine.readers.base import BATCH_SIZE, TwoPassReader
from engine.readers.json_array import (
    BOM,
    ArrayPieces,
    TooDeep,
    describe_error,
    loads,
    open_array,
    too_deep_message,
)


class JsonReader(TwoPassReader):
    """A top-level array of records, or with ``singleRecord`` the whole document as one record.

    A UTF-8 byte-order mark is ignored. Ours (§11 #14): a top level that is not an
    array, without ``singleRecord``, fails the batch; so does a record nesting more than
    :data:`~engine.limits.MAX_RECORD_DEPTH` levels. Its check's hints are the array's cut
    offsets (validated as they are used, see :meth:`ArrayPieces.second_pass`).
    """

    hint_kind = "json"

    def __init__(self, file: BatchFile, spec: Mapping[str, Any]) -> None:
        super().__init__(file, spec)
        self.single = js_truthy(spec.get("singleRecord"))
        self._pieces = ArrayPieces(file.name, file.open)

    def _whole(self) -> Any:
        with self.file.open() as stream:
            data = stream.read()
        if data.startswith(BOM):
            data = data[3:]
        try:
            return loads(data)
        except TooDeep:
            raise BatchError(too_deep_message("JSON", self.file.name)) from None
        except ValueError as error:
            raise BatchError(
                f"JSON file {self.file.name} is not valid JSON: {describe_error(error)}"
            ) from None

    def hints(self) -> dict[str, Any]:
        return {} if self.single else {"cuts": self._pieces.cuts}

    def take_hints(self, hints: Mapping[str, Any]) -> bool:
        return self.single or self._pieces.take_cuts(hints.get("cuts"), self.file.size)

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        if self.single:
            record = [self._whole()]
            if (first_pass or self.hinted) and first_too_deep(record, MAX_RECORD_DEPTH) is not None:
                raise BatchError(too_deep_message("JSON", self.file.name))
            yield record
            return
        with self.file.open() as stream:
            opened = open_array(stream)
            if opened is not None:
                buf, base = opened
                pieces = self._pieces
                if first_pass:
                    yield from pieces.first_pass(stream, buf, base)
                else:
                    yield from pieces.second_pass(stream, buf, base, self.hinted)
                return
        self._whole()
        raise BatchError(f"JSON file {self.file.name} must contain an array of records (or use singleRecord)")


class JsonLinesReader(TwoPassReader):
    """One JSON value per non-blank line (JSON Lines); a UTF-8 byte-order mark is ignored.

    Its records pass parses every line as the check does, so a checked file needs no hints
    beyond the fact (the nesting depth is then checked in the records pass).
    """

    hint_kind = "jsonl"

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        batch: list[Any] = []
        lines: list[int] = []  # the line number of each record of ``batch``
        with self.file.open() as stream:
            for number, line in enumerate(stream, 1):
                if number == 1 and line.startswith(BOM):
                    line = line[3:]
                line = line.strip()
                if not line:
                    continue
                try:
                    batch.append(loads(line))
                except TooDeep:
                    raise BatchError(too_deep_message("JSONL", self.file.name, f" line {number}")) from None
                except ValueError as error:
                    message = error.msg if hasattr(error, "msg") else str(error)
                    raise BatchError(
                        f"JSONL file {self.file.name} line {number} is not valid JSON: {message}"
                    ) from None
                lines.append(number)
                if len(batch) >= BATCH_SIZE:
                    yield self._checked(batch, lines, first_pass or self.hinted)
                    batch, lines = [], []
        yield self._checked(batch, lines, first_pass or self.hinted)

    def _checked(self, batch: list[Any], lines: list[int], check_depth: bool) -> list[Any]:
        """``batch`` once none of its records (``check_depth``) nests more than ``MAX_RECORD_DEPTH`` levels."""
        if check_depth:
            index = first_too_deep(batch, MAX_RECORD_DEPTH)
            if index is not None:
                raise BatchError(too_deep_message("JSONL", self.file.name, f" line {lines[index]}"))
        return batch
