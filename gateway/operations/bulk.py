"""Bulk operations: csv_data_load, csv_file_load, csv_url_load, import_from_s3, export_local,
export_to_s3, delete_records_before.

Each checks its request synchronously (400 with HarperDB's messages: missing
table or database, missing file, bad action, a path outside the allowed
directories, a refused URL) and then starts a background job, answering at once
``{"message": "Starting job with id <id>", "job_id": "<id>"}``. ``get_job``
follows the job to COMPLETE or ERROR.

The job's work is a *job kind* (``@job_kind``): it gets the request body and runs the
same checks again, in whichever process the task queue hands the job to (the user's
rights, the table, the path or URL as they are then), as the user who started it.
:func:`bind_job_kinds` gives the jobs family every kind, bound to a gateway.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
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
from gateway.jobs.service import JobError, Kind
from gateway.jobs.table import Job
from gateway.operations.registry import OperationContext, operation
from gateway.process import Gateway
from gateway.query.searches import SearchFailed, run_search, search_operation_name, search_table
from gateway.query.sqlexec import deleted_message
from gateway.storage.records import CREATED, KeyRange, WriteMode
from gateway.storage.txlog import writing_as
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


JobWork = Callable[[OperationContext, dict[str, Any], Job], tuple[str, dict[str, Any] | None]]
"""A job kind's work: ``(ctx as the job's user, request body, job) -> (message, result)``."""
JOB_KINDS: dict[str, JobWork] = {}


def job_kind(name: str) -> Callable[[JobWork], JobWork]:
    """Register the work of jobs of type ``name``."""

    def register(work: JobWork) -> JobWork:
        JOB_KINDS[name] = work
        return work

    return register


def bind_job_kinds(gateway: Gateway) -> None:
    """Let ``gateway``'s jobs family run every job kind (as the user who started the job)."""

    def bound(work: JobWork) -> Kind:
        def run(job: Job, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
            user = gateway.auth.users.load_user(job.user)
            if user is None or not user.active:
                raise JobError(f"user '{job.user}' no longer exists or is not active")
            try:
                with writing_as(job.user, job.type):  # the job's writes are logged as its user's
                    return work(OperationContext(gateway, user), body, job)
            except OperationError as exc:  # a check that passed when the job was asked for fails now
                raise JobError(exc.message) from exc

        return run

    gateway.jobs.service.kinds.update({name: bound(work) for name, work in JOB_KINDS.items()})


def submit_job(ctx: OperationContext, job_type: str, body: dict[str, Any]) -> dict[str, str]:
    job = ctx.gateway.jobs.service.submit(job_type, ctx.user.username, _job_body(body), body)
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


def _csv_data(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, WriteMode, str]:
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    data = body.get("data")
    if data is None:
        raise OperationError("'data' is required")
    if not isinstance(data, str):
        raise OperationError("'data' must be a string")
    return database, table, mode, data


@operation("csv_data_load")
def csv_data_load(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load the CSV text in ``data``."""
    _csv_data(ctx, body)
    return submit_job(ctx, "csv_data_load", body)


@job_kind("csv_data_load")
def _csv_data_load(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, None]:
    database, table, mode, data = _csv_data(ctx, body)
    job.progress.bytes_total = len(data)
    blocks = _string_blocks(data, job.progress)
    return load_csv(ctx.gateway.storage, database, table, blocks, mode, job.progress), None


def _csv_file(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, WriteMode, Path]:
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    raw = fields.string(body, "file_path")
    try:
        path = paths.import_file(raw, ctx.gateway.bulk.import_dirs)
    except paths.PathRefused as exc:
        raise OperationError(str(exc)) from exc
    return database, table, mode, path


@operation("csv_file_load")
def csv_file_load(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load a CSV file from one of the configured import directories."""
    _csv_file(ctx, body)
    return submit_job(ctx, "csv_file_load", body)


@job_kind("csv_file_load")
def _csv_file_load(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, None]:
    database, table, mode, path = _csv_file(ctx, body)
    storage = ctx.gateway.storage
    try:
        handle = paths.open_confined(path, ctx.gateway.bulk.import_dirs)
    except paths.PathRefused as exc:
        raise JobError(str(exc)) from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        job.progress.bytes_total = size
        if worth_a_worker(size, ctx.gateway.bulk.parse_worker_min_bytes):
            parts = worker_parts(handle, job.progress)
            return load_parts(storage, database, table, parts, mode, job.progress), None
        blocks = text_blocks(handle.read, job.progress.add_bytes)
        return load_csv(storage, database, table, blocks, mode, job.progress), None


def _csv_url(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, WriteMode, urlfetch.CheckedUrl]:
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    try:
        checked = urlfetch.check_url(body.get("csv_url"), _allow_private(ctx))
    except urlfetch.UrlRefused as exc:
        raise OperationError(str(exc)) from exc
    return database, table, mode, checked


@operation("csv_url_load")
def csv_url_load(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load a CSV file from an http(s) URL (no private targets unless configured)."""
    _csv_url(ctx, body)
    return submit_job(ctx, "csv_url_load", body)


@job_kind("csv_url_load")
def _csv_url_load(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, None]:
    database, table, mode, checked = _csv_url(ctx, body)
    bulk = ctx.gateway.bulk
    try:
        download = urlfetch.open_url(checked, _allow_private(ctx), bulk.url_max_bytes, bulk.url_timeout)
    except urlfetch.FetchError as exc:
        raise JobError(str(exc)) from exc
    try:
        job.progress.bytes_total = download.length
        blocks = text_blocks(download.read, job.progress.add_bytes)
        return load_csv(ctx.gateway.storage, database, table, blocks, mode, job.progress), None
    finally:
        download.close()


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


def _s3_load(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, WriteMode, s3.S3Spec]:
    mode = _action(body)
    database, table = _load_target(ctx, body, mode)
    spec = _s3_spec(ctx, body)
    if not spec.key.endswith(s3.LOAD_EXTENSIONS):
        raise OperationError(S3_EXTENSION_ERROR)
    return database, table, mode, spec


@operation("import_from_s3")
def import_from_s3(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Load a ``.csv`` or ``.json`` object from S3 (or an S3-compatible ``endpoint_url``)."""
    _s3_load(ctx, body)
    return submit_job(ctx, "import_from_s3", body)


@job_kind("import_from_s3")
def _import_from_s3(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, None]:
    database, table, mode, spec = _s3_load(ctx, body)
    try:
        download = s3.S3Download(spec)
    except s3.S3Error as exc:
        raise JobError(str(exc)) from exc
    try:
        job.progress.bytes_total = download.length
        blocks = text_blocks(download.read, job.progress.add_bytes)
        load = load_json if spec.key.endswith(".json") else load_csv
        return load(ctx.gateway.storage, database, table, blocks, mode, job.progress), None
    finally:
        download.close()


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


def _local_export(ctx: OperationContext, body: dict[str, Any]) -> tuple[Path, str | None, str]:
    """The export directory, the file name asked for and the path as the answer shows it."""
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
    return directory, filename, shown


@operation("export_local")
def export_local(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Export a search's results to ``<path>/<filename or epoch ms>.<format>`` on the server."""
    _local_export(ctx, body)
    return submit_job(ctx, "export_local", body)


@job_kind("export_local")
def _export_local(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, dict[str, Any]]:
    directory, filename, shown = _local_export(ctx, body)
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


def _s3_export(ctx: OperationContext, body: dict[str, Any]) -> s3.S3Spec:
    spec = _s3_spec(ctx, body)
    _check_search_permission(ctx, body)
    return spec


@operation("export_to_s3")
def export_to_s3(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Export a search's results to S3 as ``<s3.key>.<format>``."""
    _s3_export(ctx, body)
    return submit_job(ctx, "export_to_s3", body)


@job_kind("export_to_s3")
def _export_to_s3(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, dict[str, Any]]:
    spec = _s3_export(ctx, body)
    fmt = _export_checks(body)
    staging = ctx.gateway.bulk.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=staging) as scratch:
        local = _export(ctx, body, Path(scratch), "export", job)
        try:
            result = s3.upload(spec, f"{spec.key}.{fmt}", local)
        except s3.S3Error as exc:
            raise JobError(str(exc)) from exc
    return f"Successfully completed job: {job.id}", result


# -- delete_records_before ----------------------------------------------------------------


def _deletion(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, float]:
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
    return database, table, cutoff


@operation(
    "delete_records_before",
    super_user=True,
    internal_name="deleteRecordsBefore",
    aliases=("delete_files_before",),
)
def delete_records_before(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Delete the records whose ``__createdtime__`` is before ``date`` (through its index)."""
    _deletion(ctx, body)
    return submit_job(ctx, "delete_records_before", body)


@job_kind("delete_records_before")
def _delete_records_before(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, None]:
    if not ctx.user.is_super_user:
        raise JobError(f"user '{ctx.user.username}' is no longer a super user")
    database, table, cutoff = _deletion(ctx, body)
    storage = ctx.gateway.storage
    keys = storage.records.index_keys(database, table, CREATED, KeyRange(upper=cutoff, upper_inclusive=False))
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
