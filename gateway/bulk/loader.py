"""The load loop of csv_data_load, csv_file_load, csv_url_load and import_from_s3.

Input is parsed, cast and written one chunk (``CHUNK_ROWS`` records) at a time
through the ``ChunkWrites`` storage port: encoded whole ahead of the write where
the chunk is new records in columns (``arrowencode``, ``listencode``), else as
records (``load_chunk``), so memory stays flat whatever the input size, and the
writes are synced once at the end.

A malformed input (unterminated quote, more cells than the header, bad UTF-8,
an unusable primary key, a value of the wrong declared type, a column name with a
control character, a JSON record nesting more than 128 levels) ends the load at
that row: every row before it is written, nothing from it on. The error names
the row and says how many records before it were loaded. A full device ends the
load the same way at the chunk that could not be written (``no space left on the
device (records store); rows before it were processed: …``).

However a load ends (complete, at a bad row, stopped), what it wrote is made durable before the
job ends (``Records.sync``: on RocksDB a flush of the chunks written without the write-ahead log);
if that fails the job ends ERROR saying the records written are not yet durable, never COMPLETE.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from engine.limits import MAX_RECORD_DEPTH, first_too_deep
from gateway.bulk.arrowcsv import arrow_parts
from gateway.bulk.arrowencode import encode_chunk, python_columns
from gateway.bulk.arrowpool import TRIM_EVERY, release_free_memory
from gateway.bulk.casting import cast_cell, cast_column
from gateway.bulk.errors import LoadFailed, SourceError
from gateway.bulk.jsonsource import TOO_DEEP, JsonFormatError, json_records
from gateway.bulk.listencode import encode_columns
from gateway.bulk.prefetch import close_iterator as _close
from gateway.bulk.prefetch import prefetched
from gateway.bulk.prepare import CHUNK_ROWS, Part, prepare, where
from gateway.jobs.progress import JobStopped, Progress
from gateway.storage.errors import ChunkRecordError, InvalidRecord, OutOfSpace, StoreFailure
from gateway.storage.ports import Storage
from gateway.storage.records import WriteMode

NO_CSV_RECORDS = "No records parsed from csv file."
NO_JSON_RECORDS = "No records parsed from json file."


def load_message(loaded: int, total: int) -> str:
    """HarperDB's summary of a load."""
    return f"successfully loaded {loaded} of {total} records"


class _Writer:
    """Writes chunks of records and keeps the counts."""

    def __init__(
        self, storage: Storage, database: str, table: str, mode: WriteMode, progress: Progress
    ) -> None:
        self.storage = storage
        self.chunks = storage.chunks
        self.database = database
        self.table = table
        self.mode = mode
        self.progress = progress
        self.stamp = storage.now_ms()
        self.loaded = 0
        self.total = 0

    def write(self, records: list[dict[str, Any]]) -> ChunkRecordError | None:
        """Write a chunk; on a bad record, write the records before it and return the error."""
        try:
            written, _ = self.chunks.load_chunk(self.database, self.table, records, self.mode, self.stamp)
            self._count(len(records), written)
            return None
        except ChunkRecordError as exc:
            self._write_prefix(records[: exc.index])
            return exc

    def write_columns(self, names: list[str], columns: list[Sequence[Any]]) -> ChunkRecordError | None:
        """Write a chunk given as columns (no missing cells), encoded whole where it can be; as ``write``."""
        if self.mode in ("insert", "upsert"):
            plan = self.chunks.chunk_plan(self.database, self.table, names, self.stamp)
            encoded = encode_columns(names, columns, plan) if plan is not None else None
            if encoded is not None and self.chunks.write_encoded(
                self.database, self.table, encoded, self.mode
            ):
                self._count(len(encoded), len(encoded))
                return None
        return self.write([dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)])

    def encode(self, part: Part) -> Part:
        """Attach the encoded chunk of a part of typed columns (None: written the per-value way).

        Only inserts and upserts write encoded chunks (an update needs the stored records).
        """
        if part.typed and self.mode in ("insert", "upsert"):
            plan = self.chunks.chunk_plan(self.database, self.table, part.header, self.stamp)
            part.encoded = encode_chunk(part.header, part.typed, plan) if plan is not None else None
            if part.encoded is not None:
                self.chunks.stage_encoded(self.database, self.table, part.encoded)
        return part

    def encoded(self, parts: Iterator[Part]) -> Iterator[Part]:
        """``encode`` of each part (a generator, so that stopping early closes ``parts`` too)."""
        try:
            yield from map(self.encode, parts)  # no reference to a part once it is handed on
        finally:
            _close(parts)

    def write_encoded(self, part: Part) -> ChunkRecordError | None:
        """Write a part's encoded chunk whole if the store can take it, else the per-value way."""
        encoded = part.encoded
        if encoded is not None and self.chunks.write_encoded(self.database, self.table, encoded, self.mode):
            self._count(len(encoded), len(encoded))
            return None
        assert part.typed is not None
        return self.write_columns(part.header, python_columns(part.typed))

    def _write_prefix(self, records: list[dict[str, Any]]) -> None:
        if records:
            written, _ = self.chunks.load_chunk(self.database, self.table, records, self.mode, self.stamp)
            self._count(len(records), written)

    def _count(self, records: int, written: int) -> None:
        self.total += records
        self.loaded += written
        self.progress.records_done = self.total

    def failed(self, cause: str) -> LoadFailed:
        return LoadFailed(f"{cause}; rows before it were processed: {load_message(self.loaded, self.total)}")

    def sync(self) -> None:
        """Make the chunks written durable and, if any were, let the store settle the table.

        LoadFailed if the store cannot (a full device): the records written are not reported as loaded.
        """
        try:
            self.storage.records.sync()
        except StoreFailure as exc:
            raise LoadFailed(
                f"{exc}: the records written are not yet durable ({load_message(self.loaded, self.total)})"
            ) from exc
        if self.loaded:
            self.chunks.settle(self.database, self.table)

    def ended(self, cause: str) -> LoadFailed:
        """The failure of a load that ``cause`` ends, once what it wrote is synced (``sync_after``)."""
        failed = self.failed(cause)
        self.sync_after(failed)
        return failed

    def sync_after(self, failure: Exception) -> None:
        """``sync`` on the way out of a load that ``failure`` ends (LoadFailed naming both if it fails)."""
        try:
            self.sync()
        except LoadFailed as exc:
            cause = str(failure) or "the load was stopped"
            raise LoadFailed(f"{cause}; {exc.__cause__}: they are not yet durable") from exc

    def finish(self, empty_message: str) -> str:
        self.sync()
        self.progress.finished = True
        return empty_message if self.total == 0 else load_message(self.loaded, self.total)


def load_csv(
    storage: Storage,
    database: str,
    table: str,
    blocks: Iterator[str],
    mode: WriteMode,
    progress: Progress,
) -> str:
    """Load CSV text blocks into a table; the job message (raises LoadFailed, JobStopped).

    Blocks of a whole regular file (``text_blocks`` of a file's ``read``) are read by
    pyarrow instead when ``gateway.bulk.arrowcsv`` can (same records, faster).
    """
    source = getattr(blocks, "source", None)
    if source is not None:
        fast = arrow_parts(source, progress)
        if fast is not None:
            return load_parts(storage, database, table, fast, mode, progress)
    return load_parts(storage, database, table, prepare(blocks, CHUNK_ROWS), mode, progress)


def load_parts(
    storage: Storage,
    database: str,
    table: str,
    parts: Iterator[Part],
    mode: WriteMode,
    progress: Progress,
) -> str:
    """Write prepared CSV parts (from ``prepare``, here or in a parse worker); the job message."""
    writer = _Writer(storage, database, table, mode, progress)
    written = 0
    try:
        for part in prefetched(writer.encoded(prefetched(parts))):
            if part.error is not None:
                raise writer.failed(part.error)
            if part.typed is not None:
                error = writer.write_encoded(part)
            elif part.columns is not None:
                columns = list(part.columns) if part.cast else [cast_column(c) for c in part.columns]
                error = writer.write_columns(part.header, columns)
            elif part.rows:
                error = writer.write(_records(part.header, part.rows))
            else:
                error = None
            if error is not None:
                row, line = part.row_of(error.index)
                raise writer.failed(where(str(error), row, line))
            del part  # written: not held while the next one is waited for
            written += 1
            if TRIM_EVERY and written % TRIM_EVERY == 0:
                release_free_memory()
            progress.check_stop()
    except (SourceError, InvalidRecord) as exc:
        raise writer.ended(str(exc)) from exc
    except (LoadFailed, JobStopped) as exc:
        writer.sync_after(exc)
        raise
    except OutOfSpace as exc:  # no sync: the store takes no writes until space returns
        raise writer.failed(str(exc)) from exc
    return writer.finish(NO_CSV_RECORDS)


def _records(header: list[str], rows: list[list[str]]) -> list[dict[str, Any]]:
    """Cast rows cell by cell into records (a short row leaves its missing cells absent)."""
    records = [dict(zip(header, map(cast_cell, row), strict=False)) for row in rows]
    if "" in header:  # columns without a name are dropped
        for record in records:
            record.pop("", None)
    return records


def load_json(
    storage: Storage,
    database: str,
    table: str,
    blocks: Iterator[str],
    mode: WriteMode,
    progress: Progress,
) -> str:
    """Load a JSON array of records (text blocks) into a table; the job message."""
    writer = _Writer(storage, database, table, mode, progress)
    chunk: list[dict[str, Any]] = []
    try:
        for record in json_records(blocks):
            chunk.append(record)
            if len(chunk) >= CHUNK_ROWS:
                _write_json_chunk(writer, chunk)
                chunk = []
                progress.check_stop()
        if chunk:
            _write_json_chunk(writer, chunk)
    except (JsonFormatError, SourceError) as exc:
        if chunk:
            _write_json_chunk(writer, chunk)
        raise writer.ended(str(exc)) from exc
    except InvalidRecord as exc:  # a whole chunk refused (an attribute name with a control character)
        raise writer.ended(str(exc)) from exc
    except (LoadFailed, JobStopped) as exc:
        writer.sync_after(exc)
        raise
    except OutOfSpace as exc:  # no sync: the store takes no writes until space returns
        raise writer.failed(str(exc)) from exc
    return writer.finish(NO_JSON_RECORDS)


def _write_json_chunk(writer: _Writer, chunk: Sequence[dict[str, Any]]) -> None:
    records = list(chunk)
    deep = first_too_deep(records, MAX_RECORD_DEPTH)
    if deep is not None:  # the records before it are written, as for any bad record
        if deep:
            _write_json_chunk(writer, records[:deep])
        raise writer.failed(f"JSON record {writer.total + 1} {TOO_DEEP}")
    error = writer.write(records)
    if error is not None:
        raise writer.failed(f"{error} at JSON record {writer.total + 1}")
