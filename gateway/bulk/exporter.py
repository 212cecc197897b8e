"""Streaming export writers (JSON array or CSV) to a temporary file renamed into place.

JSON is one compact array of the rows, keys in the export's column order. CSV
has a header of double-quoted names; in data rows strings are quoted (``"``
doubled), numbers and booleans are bare, null is an empty cell, objects and
arrays are their JSON text quoted. Lines end with ``\\n`` and the file has no
final line end (as HarperDB writes it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from gateway.jobs.progress import Progress
from gateway.jobs.service import JobError
from gateway.query.searches import SearchRows
from gateway.storage.errors import is_no_space

FORMATS = ("json", "csv")
_BUFFER = 1 << 20
_PROGRESS_EVERY = 10_000


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def csv_cell(value: Any) -> str:
    """One CSV cell of an export."""
    kind = type(value)
    if kind is str:
        text: str = value
        return '"' + text.replace('"', '""') + '"' if '"' in text else '"' + text + '"'
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return orjson.dumps(value).decode()
    return _quoted(orjson.dumps(value).decode())


def _rows_counted(rows: Iterator[dict[str, Any]], progress: Progress) -> Iterator[dict[str, Any]]:
    count = 0
    for row in rows:
        yield row
        count += 1
        if count % _PROGRESS_EVERY == 0:
            progress.records_done = count
            progress.check_stop()
    progress.records_done = count


def write_json(out: IO[bytes], rows: Iterator[dict[str, Any]]) -> None:
    dumps = orjson.dumps
    out.write(b"[")
    first = True
    for row in rows:
        if first:
            first = False
        else:
            out.write(b",")
        out.write(dumps(row))
    out.write(b"]")


def write_csv(out: IO[bytes], columns: list[str], rows: Iterator[dict[str, Any]]) -> None:
    out.write(",".join(_quoted(c) for c in columns).encode())
    cell = csv_cell
    for row in rows:
        out.write(("\n" + ",".join(map(cell, row.values()))).encode())


def export_file(directory: Path, filename: str, fmt: str, search: SearchRows, progress: Progress) -> Path:
    """Write the export to ``directory/filename`` through a temporary file; the final path."""
    final = directory / filename
    temp = directory / f".{filename}.{uuid.uuid4().hex}.partial"
    writer: Callable[[IO[bytes]], None]
    rows = _rows_counted(search.rows, progress)
    if fmt == "json":
        writer = lambda out: write_json(out, rows)  # noqa: E731
    else:
        writer = lambda out: write_csv(out, search.columns, rows)  # noqa: E731
    try:
        with open(temp, "xb", buffering=_BUFFER) as out:
            writer(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and is_no_space(exc):
            raise JobError(f"no space left on the device (export directory {directory})") from exc
        raise
    progress.bytes_read = final.stat().st_size
    progress.finished = True
    return final
