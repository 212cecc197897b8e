"""Streaming request bodies for the batch API: multipart uploads and small forms.

A multipart body is parsed with python-multipart's streaming parser straight
from ``request.stream()``; a wanted file part goes chunk by chunk into a pending
blob (a temporary file + SHA-256, whatever the blob backend), so memory stays flat whatever the size. The
``form_fields``/``stream_form`` helpers never spool a body in memory beyond a
small cap for text fields. A wanted file field sent twice is refused
(:class:`DuplicateFilePart`). Every pending blob left uncommitted when the
``stream_form`` context exits is discarded, so no temporary file survives an
error, an oversized body or a rejected request.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from gateway.storage.ports import Blobs, PendingBlob

MAX_FIELD_BYTES = 64 * 1024  # a text field (batch id, name, comment, mode)
MAX_FORM_BYTES = 1024 * 1024  # a whole urlencoded body, or all text fields of a multipart body


class MalformedRequest(Exception):
    """The body cannot be read as the expected form (answered as a failed validation)."""


class DuplicateFilePart(MalformedRequest):
    """A wanted file field comes twice in one body: which one counts would be a guess."""

    def __init__(self, name: str) -> None:
        super().__init__(f"more than one '{name}' part")
        self.name = name


@dataclass
class FilePart:
    """A file part of a multipart body: its filename and, if kept, its pending blob."""

    filename: str
    blob: PendingBlob | None = None
    size: int = 0

    @property
    def digest(self) -> str | None:
        return self.blob.digest if self.blob is not None else None


@dataclass
class Form:
    """Text fields (first value of each name) and file parts by field name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    target: str = "discard"  # "field", "blob" or "discard"
    text: bytearray = field(default_factory=bytearray)
    blob: PendingBlob | None = None
    size: int = 0


def _content_type(request: Request) -> tuple[bytes, dict[bytes, bytes]]:
    return parse_options_header(request.headers.get("content-type", ""))


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("a form field is not UTF-8") from exc


class _MultipartReader:
    """Feeds body chunks to the parser and acts on its events (async writes)."""

    def __init__(self, boundary: bytes, blobs: Blobs | None, keep_files: set[str], form: Form) -> None:
        self.blobs = blobs
        self.keep_files = keep_files
        self.form = form
        self.pending: list[PendingBlob] = []
        self.events: list[tuple[str, bytes]] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, str] = {}
        self.part: _Part | None = None
        self.ended = False
        self.field_bytes = 0
        try:
            self.parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": lambda: self.events.append(("begin", b"")),
                    "on_part_data": lambda d, s, e: self.events.append(("data", bytes(d[s:e]))),
                    "on_part_end": lambda: self.events.append(("end", b"")),
                    "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
                    "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
                    "on_header_end": self._header_end,
                    "on_headers_finished": lambda: self.events.append(("headers", b"")),
                    "on_end": self._end,
                },
            )
        except FormParserError as exc:
            raise MalformedRequest(str(exc)) from exc

    def _header_end(self) -> None:
        self.events.append(("header", bytes(self.header_field) + b"\x00" + bytes(self.header_value)))
        self.header_field.clear()
        self.header_value.clear()

    def _end(self) -> None:
        self.ended = True

    async def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError as exc:
            raise MalformedRequest(str(exc)) from exc
        events, self.events = self.events, []
        for kind, data in events:
            await self._event(kind, data)

    async def _event(self, kind: str, data: bytes) -> None:
        if kind == "begin":
            self.part = _Part()
            self.headers = {}
        elif kind == "header":
            name, _, value = data.partition(b"\x00")
            self.headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1")
        elif kind == "headers":
            self._start_part()
        elif kind == "data":
            await self._data(data)
        elif kind == "end":
            await self._end_part()

    def _start_part(self) -> None:
        part = self.part
        assert part is not None
        disposition, options = parse_options_header(self.headers.get("content-disposition", ""))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedRequest("a multipart part has no form-data name")
        part.name = _decode(options[b"name"])
        raw_filename = options.get(b"filename")
        part.filename = _decode(raw_filename) if raw_filename is not None else None
        if part.name in self.keep_files:
            if part.name in self.form.files:
                raise DuplicateFilePart(part.name)
            if self.blobs is not None:
                part.blob = self.blobs.begin()
                self.pending.append(part.blob)
                part.target = "blob"
            else:
                part.target = "discard"
            self.form.files.setdefault(part.name, FilePart(part.filename or "", part.blob))
        elif part.filename is None:
            part.target = "field"

    async def _data(self, data: bytes) -> None:
        part = self.part
        if part is None:
            return
        part.size += len(data)
        if part.target == "blob" and part.blob is not None:
            await part.blob.write(data)
        elif part.target == "field":
            self.field_bytes += len(data)
            if len(part.text) + len(data) > MAX_FIELD_BYTES or self.field_bytes > MAX_FORM_BYTES:
                raise MalformedRequest(f"form field {part.name!r} is too long")
            part.text.extend(data)

    async def _end_part(self) -> None:
        part = self.part
        self.part = None
        if part is None:
            return
        if part.target == "blob" and part.blob is not None:
            await part.blob.finish()
            self.form.files[part.name].size = part.size
        elif part.target == "discard" and part.name in self.keep_files:
            self.form.files[part.name].size = part.size
        elif part.target == "field":
            self.form.fields.setdefault(part.name, _decode(bytes(part.text)))

    async def close(self) -> None:
        try:
            self.parser.finalize()
        except FormParserError as exc:
            raise MalformedRequest(str(exc)) from exc
        if not self.ended or self.part is not None:
            raise MalformedRequest("the multipart body ends before its closing boundary")


@contextlib.asynccontextmanager
async def stream_form(
    request: Request, blobs: Blobs | None, keep_files: set[str] | None = None
) -> AsyncIterator[Form]:
    """Read a multipart or urlencoded body; file parts named in ``keep_files`` become pending blobs.

    With ``blobs=None`` file contents are read and dropped. Pending blobs that the
    caller has not committed are discarded when the context exits, whatever
    happened. Raises MalformedRequest for a body that is not a valid form.
    """
    form = Form()
    pending: list[PendingBlob] = []
    try:
        media_type, options = _content_type(request)
        if media_type == b"multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary:
                raise MalformedRequest("multipart body without a boundary")
            reader = _MultipartReader(boundary, blobs, keep_files or set(), form)
            pending = reader.pending
            async for chunk in request.stream():
                if chunk:
                    await reader.feed(chunk)
            await reader.close()
        elif media_type == b"application/x-www-form-urlencoded":
            form.fields.update(await _urlencoded(request))
        yield form
    finally:
        for blob in pending:
            await blob.discard()


async def _urlencoded(request: Request) -> dict[str, str]:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise MalformedRequest("form body too large")
    return parse_query(bytes(body))


def parse_query(raw: bytes) -> dict[str, str]:
    """First value of each name in an urlencoded string (blank values kept)."""
    try:
        text = raw.decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest("the form is not valid UTF-8") from exc
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def merged_parameters(request: Request, form: Form) -> dict[str, Any]:
    """Body fields, then query-string parameters for names the body lacks."""
    params: dict[str, Any] = dict(form.fields)
    for name, value in request.query_params.multi_items():
        params.setdefault(name, value)
    return params
