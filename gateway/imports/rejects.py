"""The reject file of a batch: its failed input records, in their input format, with their errors.

The failed records are known from the batch's error entries (file, record number,
messages; :mod:`gateway.imports.errorlog`). The input file is streamed again from the
blob store and the two ordered sequences are merged, so neither the file nor the
failed records are held in memory. Formats (by the file's reader in the control file):

- ``tsv-with-name-row``: the name row plus ``_imported`` and ``_errors``, then each
  failed line as it was, ``yes``/``no`` and its errors (``; `` between them; tabs and
  line breaks in a message become spaces), in the file's charset;
- ``csv``: the same with RFC 4180 quoting;
- ``json``: an array of the failed records, each with ``_imported`` (true/false) and an
  ``_errors`` array (a record that is not an object becomes ``{"_record": …}``);
  ``jsonl``: one such object a line;
- ``xml-text-of-children`` / ``xml-attributes``: the root element (with its
  attributes) around the failed record elements, each with ``_imported`` and
  ``_errors`` attributes.

``_imported`` says whether the record was stored all the same, without the values in
error (a conversion error drops only the value): re-importing such a record with a
control file that creates new records would create it twice.

The same merge gives delimited text files' line numbers to their error entries at the
end of a run (:func:`add_lines`).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Final
from xml.sax import SAXException
from xml.sax.handler import ContentHandler
from xml.sax.saxutils import escape, quoteattr
from xml.sax.xmlreader import AttributesImpl

import defusedxml.sax
from defusedxml import DefusedXmlException

from engine import READERS, BatchFile
from engine.jsvalues import js_truthy
from gateway.storage.ports import BatchErrorLog
from gateway.storage.records import ErrorEntry

CHUNK: Final = 1 << 16
LINE_PAGE: Final = 500
ERRORS_FIELD: Final = "_errors"
EXTENSIONS: Final = {
    "tsv-with-name-row": "tsv",
    "csv": "csv",
    "json": "json",
    "jsonl": "jsonl",
    "xml-text-of-children": "xml",
    "xml-attributes": "xml",
}
MEDIA_TYPES: Final = {
    "tsv": "text/tab-separated-values",
    "csv": "text/csv",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "xml": "application/xml",
}
DELIMITED: Final = ("tsv-with-name-row", "csv")
_BREAK = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(r"[\t\r\n]+")

Opener = Callable[[], BinaryIO]
IMPORTED_FIELD: Final = "_imported"


@dataclass
class Reject:
    """A failed record's error messages, and whether it was stored all the same (without the values in error)."""

    messages: list[str]
    imported: bool

    def joined(self) -> str:
        """The messages on one line, ``; `` between them."""
        return "; ".join(_SPACES.sub(" ", m) for m in self.messages)

    @property
    def flag(self) -> str:
        """``yes`` or ``no``: the ``_imported`` column or attribute."""
        return "yes" if self.imported else "no"


Failed = tuple[int, Reject]
"""A failed record: its number in the file, its errors."""


class RejectsUnavailable(Exception):
    """The batch has no reject file to give (the message says why); a 400 for the client."""


def file_spec(control: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The control file's specification of batch file ``name`` (or its ``DEFAULT``)."""
    files = control.get("files")
    specs: Mapping[str, Any] = files if isinstance(files, dict) else {}
    spec = specs.get(name, specs.get("DEFAULT"))
    if not isinstance(spec, dict) or spec.get("read") not in EXTENSIONS:
        raise RejectsUnavailable(f"No reject file for file {name}: its reader is not known")
    return spec


def _charset(spec: Mapping[str, Any]) -> str:
    charset = spec.get("charset")
    name = str(charset) if charset else "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def _tsv_lines(open_file: Opener, spec: Mapping[str, Any]) -> Iterator[tuple[int, int, str]]:
    """``(-1, 1, header)`` then ``(record number, line number, line)`` of a TSV file, as the reader splits it."""
    decoder = codecs.getincrementaldecoder(_charset(spec))("replace")
    number, index, carry, first = 0, -1, "", True
    with open_file() as stream:
        while True:
            chunk = stream.read(CHUNK)
            text = carry + decoder.decode(chunk, not chunk)
            if first and text:
                first = False
                text = text.removeprefix("\ufeff")
            hold = ""
            if chunk and text.endswith("\r"):  # a CR LF cut between two reads is one break
                text, hold = text[:-1], "\r"
            parts = _BREAK.split(text)
            carry = parts.pop() + hold if chunk else ""
            for part in parts:
                number += 1
                if part:
                    yield index, number, part
                    index += 1
            if not chunk:
                return


def _csv_rows(open_file: Opener, spec: Mapping[str, Any]) -> Iterator[tuple[int, int, list[str]]]:
    """``(-1, 1, header)`` then ``(record number, first line, row)`` of a CSV file."""
    separator = spec.get("separator", ",")
    with open_file() as stream:
        text = io.TextIOWrapper(stream, encoding=_charset(spec), errors="replace", newline="")
        rows = csv.reader(text, delimiter=str(separator))
        index, start = -1, 1
        try:
            for row in rows:
                if row:
                    if index == -1 and row[0].startswith("\ufeff"):
                        row[0] = row[0][1:]
                    yield index, start, row
                    index += 1
                start = rows.line_num + 1
        finally:
            text.detach()


def _failed_records(entries: Iterable[ErrorEntry], file: str) -> Iterator[Failed]:
    """The failed records of ``file``, in order, each with its messages (entries of a record are adjacent)."""
    current: int | None = None
    reject = Reject([], False)
    for entry in entries:
        if entry.file != file or entry.record is None:
            continue
        if entry.record != current:
            if current is not None:
                yield current, reject
            current, reject = entry.record, Reject([], bool(entry.imported))
        reject.messages.append(entry.message)
    if current is not None:
        yield current, reject


def _pick(items: Iterable[tuple[int, Any]], wanted: Iterator[Failed]) -> Iterator[tuple[Any, Reject]]:
    """Merge numbered items with the wanted record numbers (both ascending): each wanted item with its
    errors. Stops reading ``items`` once nothing more is wanted."""
    target = next(wanted, None)
    if target is None:
        return
    for index, item in items:
        while target is not None and target[0] < index:
            target = next(wanted, None)
        if target is None:
            return
        if target[0] == index:
            yield item, target[1]


def _tsv(open_file: Opener, spec: Mapping[str, Any], wanted: Iterator[Failed]) -> Iterator[bytes]:
    separator = str(spec.get("separator", "\t"))
    charset = _charset(spec)
    lines = _tsv_lines(open_file, spec)
    header = next(lines, None)
    if header is None:
        return
    yield separator.join((header[2], IMPORTED_FIELD, ERRORS_FIELD)).encode(charset, "replace") + b"\n"
    for line, reject in _pick(((i, text) for i, _, text in lines), wanted):
        cells = (line, reject.flag, reject.joined().replace(separator, " "))
        yield separator.join(cells).encode(charset, "replace") + b"\n"


def _csv(open_file: Opener, spec: Mapping[str, Any], wanted: Iterator[Failed]) -> Iterator[bytes]:
    charset = _charset(spec)
    rows = _csv_rows(open_file, spec)
    header = next(rows, None)
    if header is None:
        return
    out = io.StringIO()
    writer = csv.writer(out, delimiter=str(spec.get("separator", ",")), lineterminator="\r\n")

    def row_bytes(row: list[str]) -> bytes:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        return out.getvalue().encode(charset, "replace")

    yield row_bytes([*header[2], IMPORTED_FIELD, ERRORS_FIELD])
    for row, reject in _pick(((i, r) for i, _, r in rows), wanted):
        yield row_bytes([*row, reject.flag, reject.joined()])


def _json_object(record: Any, reject: Reject) -> dict[str, Any]:
    base = dict(record) if isinstance(record, dict) else {"_record": record}
    base[IMPORTED_FIELD] = reject.imported
    base[ERRORS_FIELD] = reject.messages
    return base


def _engine_records(file: BatchFile, spec: Mapping[str, Any]) -> Iterator[tuple[int, Any]]:
    reader = READERS[str(spec["read"])](file, spec)
    reader.check()
    return enumerate(reader.records())


def _json(file: BatchFile, spec: Mapping[str, Any], wanted: Iterator[Failed]) -> Iterator[bytes]:
    picked = _pick(_engine_records(file, spec), wanted)
    if js_truthy(spec.get("singleRecord")):
        for record, reject in picked:
            yield json.dumps(_json_object(record, reject), ensure_ascii=False, indent=1).encode()
        return
    yield b"["
    separator = b"\n"
    for record, reject in picked:
        yield separator + json.dumps(_json_object(record, reject), ensure_ascii=False).encode()
        separator = b",\n"
    yield b"\n]\n"


def _jsonl(file: BatchFile, spec: Mapping[str, Any], wanted: Iterator[Failed]) -> Iterator[bytes]:
    for record, reject in _pick(_engine_records(file, spec), wanted):
        yield json.dumps(_json_object(record, reject), ensure_ascii=False).encode() + b"\n"


def _start_tag(name: str, attrs: Iterable[tuple[str, str]], reject: Reject | None = None) -> str:
    items = [(k, v) for k, v in attrs if k not in (IMPORTED_FIELD, ERRORS_FIELD)]
    if reject is not None:
        items += [(IMPORTED_FIELD, reject.flag), (ERRORS_FIELD, reject.joined())]
    return "<" + name + "".join(f" {k}={quoteattr(v)}" for k, v in items) + ">"


class _XmlCopier(ContentHandler):
    """Copies the root element and the wanted record elements (with ``_errors``) to ``out``."""

    def __init__(self, wanted: Iterator[Failed], single: bool) -> None:
        super().__init__()
        self.record_depth = 1 if single else 2
        self.depth = 0
        self.index = -1
        self.wanted = wanted
        self.target = next(wanted, None)
        self.copying = False
        self.out: list[str] = []

    def _next_target(self) -> None:
        while self.target is not None and self.target[0] < self.index:
            self.target = next(self.wanted, None)

    def startElement(self, name: str, attrs: AttributesImpl) -> None:  # noqa: N802 (SAX API)
        self.depth += 1
        if self.depth == self.record_depth:
            self.index += 1
            self._next_target()
            self.copying = self.target is not None and self.target[0] == self.index
            if self.copying:
                assert self.target is not None
                self.out.append(_start_tag(name, attrs.items(), self.target[1]))
                return
        if self.depth < self.record_depth:
            self.out.append(_start_tag(name, attrs.items()) + "\n")
        elif self.copying:
            self.out.append(_start_tag(name, attrs.items()))

    def characters(self, content: str) -> None:
        if self.copying:
            self.out.append(escape(content))

    def endElement(self, name: str) -> None:  # noqa: N802 (SAX API)
        if self.copying:
            self.out.append(f"</{name}>")
            if self.depth == self.record_depth:
                self.out.append("\n")
                self.copying = False
        elif self.depth < self.record_depth:
            self.out.append(f"</{name}>\n")
        self.depth -= 1


def _xml(open_file: Opener, spec: Mapping[str, Any], wanted: Iterator[Failed]) -> Iterator[bytes]:
    copier = _XmlCopier(wanted, js_truthy(spec.get("singleRecord")))
    parser = defusedxml.sax.make_parser()
    parser.setContentHandler(copier)
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    try:
        with open_file() as stream:
            while chunk := stream.read(CHUNK):
                parser.feed(chunk)
                if copier.out:
                    yield "".join(copier.out).encode()
                    copier.out = []
            parser.close()
    except (SAXException, DefusedXmlException, ValueError):
        pass  # the run read this file; a file that no longer parses ends the copy where it fails
    yield "".join(copier.out).encode()


def _gathered(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """``pieces`` joined into chunks of about :data:`CHUNK` bytes (one HTTP write each, not one a record)."""
    held: list[bytes] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield b"".join(held)
            held, size = [], 0
    if held:
        yield b"".join(held)


def reject_chunks(entries: Iterable[ErrorEntry], file: BatchFile, spec: Mapping[str, Any]) -> Iterator[bytes]:
    """The reject file of one batch file: its failed records (from ``entries``) in its input format,
    in chunks of about :data:`CHUNK` bytes."""
    wanted = _failed_records(entries, file.name)
    read = str(spec["read"])
    if read == "tsv-with-name-row":
        pieces = _tsv(file.open, spec, wanted)
    elif read == "csv":
        pieces = _csv(file.open, spec, wanted)
    elif read == "json":
        pieces = _json(file, spec, wanted)
    elif read == "jsonl":
        pieces = _jsonl(file, spec, wanted)
    else:
        pieces = _xml(file.open, spec, wanted)
    return _gathered(pieces)


def add_lines(store: BatchErrorLog, batch: str, file: BatchFile, spec: Mapping[str, Any]) -> None:
    """Give the error entries of a delimited text file the line where their record starts."""
    read = str(spec.get("read"))
    if read not in DELIMITED:
        return
    rows: Iterator[tuple[int, int, Any]] = (
        _tsv_lines(file.open, spec) if read == "tsv-with-name-row" else _csv_rows(file.open, spec)
    )
    lines = ((index, number) for index, number, _ in rows if index >= 0)
    entries = (e for e in store.entries(batch) if e.file == file.name and e.record is not None)
    page: list[ErrorEntry] = []
    number: int | None = None
    current = -1
    for entry in entries:
        assert entry.record is not None
        while current < entry.record:
            found = next(lines, None)
            if found is None:
                current, number = 1 << 62, None
                break
            current, number = found
        if current == entry.record and number is not None:
            page.append(replace(entry, line=number))
        if len(page) >= LINE_PAGE:
            store.put(batch, page)
            page = []
    store.put(batch, page)
