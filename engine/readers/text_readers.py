"""Delimited text readers: ``tsv-with-name-row`` (spec §3.4) and ``csv`` (RFC 4180).

Both take a header row of names; a record holds the non-empty cells under their
header names (empty cells and cells beyond the header are omitted), and every value
is a string. A byte-order mark at the start is stripped.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from engine.errors import BatchError
from engine.jsvalues import js_string
from engine.readers.base import BATCH_SIZE, CHUNK_SIZE, TwoPassReader

_LINE_BREAKS = re.compile(r"[\r\n]+")


def _charset(reader: TwoPassReader) -> str:
    charset = reader.spec.get("charset")
    name = js_string(charset) if charset else "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        raise BatchError(f"Unknown charset for file {reader.file.name}: {name}") from None
    return name


def _decode_error(reader: TwoPassReader, charset: str, error: UnicodeDecodeError) -> BatchError:
    return BatchError(f"File {reader.file.name} could not be decoded as {charset}: {error.reason}")


class TsvReader(TwoPassReader):
    """Tab (or ``separator``) separated values with a name row, no quoting.

    Lines are split on every run of CR/LF; empty lines are skipped (§11 #13). The
    ``separator`` is a literal string and may be several characters long. The records pass
    decodes and splits as the check does, so a checked file needs no hints.
    """

    hint_kind = "tsv"

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        charset = _charset(self)
        separator = self.spec.get("separator", "\t")
        if not isinstance(separator, str) or not separator:
            raise BatchError(f"Invalid separator for file {self.file.name}")
        decoder = codecs.getincrementaldecoder(charset)("strict")
        header: list[str] | None = None
        carry = ""
        at_start = True
        with self.file.open() as stream:
            while True:
                chunk = stream.read(CHUNK_SIZE)
                final = not chunk
                try:
                    text = decoder.decode(chunk, final)
                except UnicodeDecodeError as error:
                    raise _decode_error(self, charset, error) from None
                if at_start and text:
                    at_start = False
                    if text.startswith("\ufeff"):
                        text = text[1:]
                lines = _LINE_BREAKS.split(carry + text)
                carry = "" if final else lines.pop()
                batch = []
                for line in lines:
                    if not line:
                        continue
                    if header is None:
                        header = line.split(separator)
                        continue
                    batch.append({h: c for h, c in zip(header, line.split(separator), strict=False) if c})
                yield batch
                if final:
                    return


class CsvReader(TwoPassReader):
    """RFC 4180 comma-separated values with a header row.

    Options: ``charset`` (default UTF-8) and ``separator`` (one character, default
    ``,``). Quoted fields may contain separators, quotes (doubled) and line breaks.
    Blank lines are skipped; a malformed quote fails the batch. The records pass parses as
    the check does, so a checked file needs no hints.
    """

    hint_kind = "csv"

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        charset = _charset(self)
        separator = self.spec.get("separator", ",")
        if not isinstance(separator, str) or len(separator) != 1:
            raise BatchError(f"CSV separator for file {self.file.name} must be a single character")
        header: list[str] | None = None
        batch: list[Any] = []
        with self.file.open() as stream:
            text = io.TextIOWrapper(stream, encoding=charset, errors="strict", newline="")
            rows = csv.reader(text, delimiter=separator, strict=True)
            try:
                for row in rows:
                    if not row:
                        continue
                    if header is None:
                        if row[0].startswith("\ufeff"):
                            row[0] = row[0][1:]
                        header = row
                        continue
                    batch.append({h: c for h, c in zip(header, row, strict=False) if c})
                    if len(batch) >= BATCH_SIZE:
                        yield batch
                        batch = []
                yield batch
            except csv.Error as error:
                raise BatchError(
                    f"CSV file {self.file.name} could not be read: {error} (line {rows.line_num})"
                ) from None
            except UnicodeDecodeError as error:
                raise _decode_error(self, charset, error) from None
            finally:
                text.detach()
