"""Bulk operations: csv_data_load, csv_file_load, csv_url_load, import_from_s3, export_local,
export_to_s3, delete_records_before.

Each checks its request synchronously (400 with HarperDB's messages: missing
table or database, missing file, bad action, a path outside the allowed
directories, a refused URL) and then starts a background job, answering at once
``{"message": "Starting job with id <id>", "job_id": "<id>"}``. ``get_job``
follows the job to COMPLETE or ERROR.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway import fields
from gateway.auth.permissions import require_table_permissions
from gateway.bulk import paths, s3, urlfetch
from gateway.bulk.csvsource import text_blocks
from gateway.bulk.exporter import FORMATS, export_file
from gateway.bulk.loader import load_csv, load_json, load_parts
from gateway.bulk.parallel import worker_parts, worth_a_worker
from gateway.errors import OperationError
from gateway.jobs.progress import Progress
from gateway.jobs.service import JobError, Work
from gateway.jobs.table import Job
from gateway.operations.registry import OperationContext, operation
from gateway.query.searches import SearchFailed, run_search, search_operation_name, search_table
from gateway.query.sqlexec import deleted_message
from gateway.storage.records import CREATED, KeyRange, WriteMode
from gateway.timestamps import epoch_ms, parse_iso_ms

ACTIONS: tuple[WriteMode, ...] = ("insert", "update", "upsert")
ACTION_ERROR = "Action is required and must be either insert, update, or upsert"
S3_EXTENSION_ERROR = "S3 key must include one of the following valid file extensions - '.csv', '.json'"
_STRING_BLOCK = 1 << 20
_DELETE_CHUNK = 10_000


# -- shared checks ------------------------------------------------------------------


def _action(body: dict[str, Any]) -> WriteMode:
    action = body.get("action", "insert")
    if action is None:
        action = "insert"
    if action not in ACTIONS:
        raise OperationError(ACTION_ERROR)
    mode: WriteMode = action
    return mode


def _load_target(ctx: OperationContext, body: dict[str, Any], mode: WriteMode) -> tuple[str, str]:
    """The existing table a load writes to (400 when missing) after the role's permissions."""
    database, table = fields.table_ref(body)
    needed = {"insert": ("insert",), "update": ("update",), "upsert": ("insert", "update")}[mode]
    require_table_permissions(ctx.user, database, table, needed)
    fields.existing_table(ctx.gateway.storage.catalog, database, table, 400)
    return database, table


def _started(job: Job) -> dict[str, str]:
    return {"message": f"Starting job with id {job.id}", "job_id": job.id}


def _job_body(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the job record keeps it: no inline data, no S3 secret."""
    kept = {k: v for k, v in body.items() if k != "data"}
    if isinstance(body.get("data"), str):
        kept["data_length"] = len(body["data"])
    if isinstance(kept.get("s3"), dict):
        kept["s3"] = s3.redacted(kept["s3"])
    return kept


def _submit(ctx: OperationContext, job_type: str, body: dict[str, Any], work: Work) -> dict[str, str]:
    job = ctx.gateway.jobs.service.submit(job_type, ctx.user.username, _job_body(body), work)
    return _started(job)


def _allow_private(ctx: OperationContext) -> bool:
    return ctx.gateway.bulk.url_allow_private


def _string_blocks(data: str, progress: Progress) -> Iterator[str]:
    """``data`` in blocks of about 1 MiB that end at a line end."""
    start = 0
    while start < len(data):
        end = data.find("\n", start + _STRING_BLOCK)
        end = len(data) if end < 0 else end + 1
        block = data[start:end]
        progress.add_bytes(len(block))
        yield block
        start = end


# -- loads ----------------------------------------------------------------------------


@operation("csv_data_load")
def csv_data_load(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load the CSV text in ``data``."""
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    data = body.get("data")
    if data is None:
        raise OperationError("'data' is required")
    if not isinstance(data, str):
        raise OperationError("'data' must be a string")
    storage = ctx.gateway.storage

    def work(job: Job) -> tuple[str, None]:
        job.progress.bytes_total = len(data)
        return load_csv(
            storage, database, table, _string_blocks(data, job.progress), mode, job.progress
        ), None

    return _submit(ctx, "csv_data_load", body, work)


@operation("csv_file_load")
def csv_file_load(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load a CSV file from one of the configured import directories."""
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    raw = fields.string(body, "file_path")
    allowed = ctx.gateway.bulk.import_dirs
    worker_min = ctx.gateway.bulk.parse_worker_min_bytes
    try:
        path = paths.import_file(raw, allowed)
    except paths.PathRefused as exc:
        raise OperationError(str(exc)) from exc
    storage = ctx.gateway.storage

    def work(job: Job) -> tuple[str, None]:
        try:
            handle = paths.open_confined(path, allowed)
        except paths.PathRefused as exc:
            raise JobError(str(exc)) from exc
        with handle:
            size = os.fstat(handle.fileno()).st_size
            job.progress.bytes_total = size
            if worth_a_worker(size, worker_min):
                parts = worker_parts(handle, job.progress)
                return load_parts(storage, database, table, parts, mode, job.progress), None
            blocks = text_blocks(handle.read, job.progress.add_bytes)
            return load_csv(storage, database, table, blocks, mode, job.progress), None

    return _submit(ctx, "csv_file_load", body, work)


@operation("csv_url_load")
def csv_url_load(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load a CSV file from an http(s) URL (no private targets unless configured)."""
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    allow_private = _allow_private(ctx)
    try:
        checked = urlfetch.check_url(body.get("csv_url"), allow_private)
    except urlfetch.UrlRefused as exc:
        raise OperationError(str(exc)) from exc
    storage = ctx.gateway.storage
    max_bytes = ctx.gateway.bulk.url_max_bytes
    timeout = ctx.gateway.bulk.url_timeout

    def work(job: Job) -> tuple[str, None]:
        try:
            download = urlfetch.open_url(checked, allow_private, max_bytes, timeout)
        except urlfetch.FetchError as exc:
            raise JobError(str(exc)) from exc
        try:
            job.progress.bytes_total = download.length
            blocks = text_blocks(download.read, job.progress.add_bytes)
            return load_csv(storage, database, table, blocks, mode, job.progress), None
        finally:
            download.close()

    return _submit(ctx, "csv_url_load", body, work)


def _s3_spec(ctx: OperationContext, body: dict[str, Any]) -> s3.S3Spec:
    try:
        spec = s3.parse_spec(body.get("s3"))
    except s3.S3SpecError as exc:
        raise OperationError(str(exc)) from exc
    if spec.endpoint_url is not None:
        try:
            urlfetch.check_url(spec.endpoint_url, _allow_private(ctx), "s3.endpoint_url")
        except urlfetch.UrlRefused as exc:
            raise OperationError(str(exc)) from exc
    return spec


@operation("import_from_s3")
def import_from_s3(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load a ``.csv`` or ``.json`` object from S3 (or an S3-compatible ``endpoint_url``)."""
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    spec = _s3_spec(ctx, body)
    if not spec.key.endswith(s3.LOAD_EXTENSIONS):
        raise OperationError(S3_EXTENSION_ERROR)
    storage = ctx.gateway.storage
    as_json = spec.key.endswith(".json")

    def work(job: Job) -> tuple[str, None]:
        try:
            download = s3.S3Download(spec)
        except s3.S3Error as exc:
            raise JobError(str(exc)) from exc
        try:
            job.progress.bytes_total = download.length
            blocks = text_blocks(download.read, job.progress.add_bytes)
            load = load_json if as_json else load_csv
            return load(storage, database, table, blocks, mode, job.progress), None
        finally:
            download.close()

    return _submit(ctx, "import_from_s3", body, work)


# -- exports ---------------------------------------------------------------------------


def _check_search_permission(ctx: OperationContext, body: dict[str, Any]) -> None:
    search = body.get("search_operation")
    target = search_table(search) if isinstance(search, dict) else None
    if target is not None:
        require_table_permissions(ctx.user, target[0], target[1], ("read",))


def _export_checks(body: dict[str, Any]) -> str:
    """HarperDB's checks of format and search operation, run inside the job; the format."""
    fmt = body.get("format")
    if fmt in (None, ""):
        raise JobError("format missing")
    if fmt not in FORMATS:
        raise JobError(f"format invalid. must be one of the following values: {', '.join(FORMATS)}")
    try:
        search_operation_name(body.get("search_operation"))
    except SearchFailed as exc:
        raise JobError(str(exc)) from exc
    return str(fmt)


def _export(ctx: OperationContext, body: dict[str, Any], directory: Path, name: str, job: Job) -> Path:
    fmt = _export_checks(body)
    try:
        search = run_search(ctx.gateway.storage, ctx.user, body["search_operation"])
    except (SearchFailed, OperationError) as exc:
        raise JobError(str(exc)) from exc
    return export_file(directory, f"{name}.{fmt}", fmt, search, job.progress)


@operation("export_local")
def export_local(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Export a search's results to ``<path>/<filename or epoch ms>.<format>`` on the server."""
    raw = fields.string(body, "path")
    try:
        directory = paths.export_directory(raw, ctx.gateway.bulk.export_dirs)
    except paths.PathRefused as exc:
        raise OperationError(str(exc)) from exc
    filename = fields.optional_string(body, "filename")
    if filename is not None and not paths.safe_filename(filename):
        raise OperationError("'filename' must be a plain file name (no directory part)")
    _check_search_permission(ctx, body)
    shown = raw[:-1] if raw.endswith("/") and len(raw) > 1 else raw

    def work(job: Job) -> tuple[str, dict[str, Any]]:
        fmt = _export_checks(body)
        if not directory.exists():
            raise JobError(f"path '{shown}' does not exist")
        if not directory.is_dir():
            raise JobError(f"path '{shown}' is not a directory, please supply a valid folder path")
        name = filename or str(epoch_ms())
        final = _export(ctx, body, directory, name, job)
        label = "JSON" if fmt == "json" else "CSV"
        result = {"message": f"Successfully exported {label} locally.", "path": f"{shown}/{final.name}"}
        return f"Successfully completed job: {job.id}", result

    return _submit(ctx, "export_local", body, work)


@operation("export_to_s3")
def export_to_s3(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Export a search's results to S3 as ``<s3.key>.<format>``."""
    spec = _s3_spec(ctx, body)
    _check_search_permission(ctx, body)
    staging = ctx.gateway.bulk.staging_dir

    def work(job: Job) -> tuple[str, dict[str, Any]]:
        fmt = _export_checks(body)
        staging.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=staging) as scratch:
            local = _export(ctx, body, Path(scratch), "export", job)
            try:
                result = s3.upload(spec, f"{spec.key}.{fmt}", local)
            except s3.S3Error as exc:
                raise JobError(str(exc)) from exc
        return f"Successfully completed job: {job.id}", result

    return _submit(ctx, "export_to_s3", body, work)


# -- delete_records_before ----------------------------------------------------------------


@operation("delete_records_before", super_user=True, internal_name="deleteRecordsBefore")
def delete_records_before(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Delete the records whose ``__createdtime__`` is before ``date`` (through its index)."""
    date = body.get("date")
    if date is None:
        raise OperationError("'date' is required")
    cutoff = parse_iso_ms(date)
    if cutoff is None:
        raise OperationError("'date' must be in ISO 8601 date format")
    database, table = fields.table_ref(body)
    storage = ctx.gateway.storage
    fields.existing_table(storage.catalog, database, table, 400)
    if not storage.catalog.is_indexed(database, table, CREATED):
        raise OperationError(
            f"Table '{database}.{table}' does not record {CREATED} (it was created with an attributes list)"
        )

    def work(job: Job) -> tuple[str, None]:
        keys = storage.records.index_keys(
            database, table, CREATED, KeyRange(upper=cutoff, upper_inclusive=False)
        )
        deleted = total = 0
        while True:
            chunk = [key for _, key in zip(range(_DELETE_CHUNK), keys, strict=False)]
            if not chunk:
                break
            result = storage.records.delete(database, table, chunk)
            deleted += len(result.written)
            total += len(chunk)
            job.progress.records_done = total
            job.progress.check_stop()
        storage.records.sync()
        job.progress.finished = True
        return deleted_message(deleted, total), None

    return _submit(ctx, "delete_records_before", body, work)
