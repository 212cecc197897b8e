"""Batch pages: control files, new batches, batch state and log, scheduling, copies, downloads."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response, StreamingResponse

from engine.control import validate_control
from gateway.admin import batch_list
from gateway.admin.batch_log import log_view
from gateway.admin.framework import models_registry
from gateway.admin.web import Page, admin_view
from gateway.imports.service import (
    STATES,
    BatchRequestError,
    BatchService,
    ControlTooDeep,
    check_file_names,
    json_problem,
    parse_control_bytes,
)
from gateway.storage.errors import BlobNotFound
from gateway.storage.ports import PendingBlob

MAX_CONTROL_BYTES = 16 * 1024 * 1024
CHUNK = 1024 * 1024
ACTIVE_STATES = ("scheduled", "running")
MODES = {"dry-run": True, "import": False}


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


def _upload(page: Page, name: str) -> UploadFile | None:
    value = page.form.get(name) if page.form is not None else None
    return value if isinstance(value, UploadFile) and value.filename else None


def _attachment(filename: str) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename) or "download"
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


async def _download(page: Page, digest: str, media_type: str, filename: str) -> Response | None:
    """A stored file streamed from the blob store as an attachment; None if it is missing."""
    try:
        download = await run_in_threadpool(page.gateway.imports.blobs.download, digest)
    except BlobNotFound:
        return None
    headers = {**_attachment(filename), "Content-Length": str(download.size)}
    return StreamingResponse(download.chunks, media_type=media_type, headers=headers)


@admin_view
async def batch_home(page: Page) -> Response:
    """The batch import chooser, with links to common views of the batch list."""
    views = batch_list.quick_views(datetime.now(UTC).date())
    return page.render("batch_home.html", title="Batch import", views=views)


@admin_view
async def control_files(page: Page) -> Response:
    """Every control file, newest first."""
    controls = await run_in_threadpool(page.gateway.imports.batches.list_controls)
    return page.render("control_files.html", title="Control files", controls=controls)


async def _control(page: Page) -> dict[str, Any] | None:
    service = page.gateway.imports.batches
    return await run_in_threadpool(service.get_control, page.request.path_params["control_id"])


@admin_view
async def control_file(page: Page) -> Response:
    """One control file: digest, created, comment and the pretty-printed JSON."""
    control = await _control(page)
    if control is None:
        return page.message("Not found", "No such control file.", 404, "/admin/control-files")
    raw = await run_in_threadpool(page.gateway.imports.batches.control_bytes, control["digest"])
    try:
        pretty = json.dumps(parse_control_bytes(raw), indent=2, ensure_ascii=False)
    except (UnicodeDecodeError, ValueError):
        pretty = raw.decode("utf-8", errors="replace")
    return page.render("control_file.html", title="Control file", control=control, pretty=pretty)


@admin_view
async def control_file_download(page: Page) -> Response:
    """The control file's bytes as a download."""
    control = await _control(page)
    if control is None:
        return page.message("Not found", "No such control file.", 404, "/admin/control-files")
    name = f"control-{control['digest'][:10]}.json"
    response = await _download(page, control["digest"], "application/json", name)
    if response is None:
        back = f"/admin/control-file/{control['id']}"
        return page.message("Not found", "The stored file is missing.", 404, back)
    return response


def _control_problems(page: Page, data: bytes) -> str | None:
    """The admin upload form's wording (spec §2.2) for an unusable control file, or None."""
    try:
        control = parse_control_bytes(data)
    except ControlTooDeep as too_deep:
        return f"Not a valid control file: {too_deep}"
    except ValueError as exc:  # UnicodeDecodeError included
        return f"Not a valid JSON file: {json_problem(exc)}"
    errors = validate_control(control, models_registry(page).names())
    return "Not a valid control file: " + ", ".join(errors) if errors else None


@admin_view
async def new_control_file(page: Page) -> Response:
    """GET: the upload form. POST: validate, store (always a new row) and show it."""
    if page.form is None:
        return page.render("new_control_file.html", title="New control file", error=None, comment="")
    comment = page.field("comment")
    upload = _upload(page, "file")
    error = None
    if upload is None:
        error = "Choose a control file to upload."
    elif not comment:
        error = "A comment is required."
    elif (upload.size or 0) > MAX_CONTROL_BYTES:
        error = f"The control file is larger than {MAX_CONTROL_BYTES // (1024 * 1024)} MiB."
    if error is None:
        assert upload is not None
        data = await upload.read(MAX_CONTROL_BYTES + 1)
        error = await run_in_threadpool(_control_problems, page, data)
    if error is not None:
        return page.render(
            "new_control_file.html", 400, title="New control file", error=error, comment=comment
        )
    service = page.gateway.imports.batches
    try:
        row = await run_in_threadpool(service.upload_control, data, comment, False)
    except BatchRequestError as refused:
        return page.render(
            "new_control_file.html", 400, title="New control file", error=refused.message, comment=comment
        )
    warnings = await run_in_threadpool(service.control_warnings, parse_control_bytes(data))
    page.set_flash(
        "Control file uploaded." + "".join(f" Warning: {w} (a run would report it)." for w in warnings)
    )
    return page.redirect(f"/admin/control-file/{row['id']}")


@dataclass(frozen=True)
class Row:
    """One (name, file) row of the new-batch form."""

    name: str
    upload: UploadFile | None


def _batch_rows(page: Page) -> tuple[list[Row], str | None]:
    """The filled-in (name, file) rows of the new-batch form, and the first problem with them."""
    assert page.form is not None
    names = [v.strip() if isinstance(v, str) else "" for v in page.form.getlist("name")]
    files = [v if isinstance(v, UploadFile) and v.filename else None for v in page.form.getlist("file")]
    rows = []
    for index in range(max(len(names), len(files))):
        row = Row(names[index] if index < len(names) else "", files[index] if index < len(files) else None)
        if row.name or row.upload is not None:
            rows.append(row)
    if not rows:
        return rows, "Add at least one file."
    if any(not r.name or r.upload is None for r in rows):
        return rows, "Every file needs both a name and a file."
    seen = [r.name for r in rows]
    duplicates = sorted({n for n in seen if seen.count(n) > 1})
    if duplicates:
        return rows, "Duplicate file names: " + ", ".join(duplicates)
    for row in rows:  # before any file is stored
        try:
            check_file_names(row.name, (row.upload.filename if row.upload else None) or "")
        except BatchRequestError as refused:
            return rows, refused.message
    return rows, None


def _unlisted(service: BatchService, control_digest: str, names: list[str]) -> str | None:
    """The refusal of the first name the control file does not list, else None."""
    try:
        for name in names:
            service.check_listed(control_digest, name)
    except BatchRequestError as refused:
        return refused.message
    return None


@admin_view
async def new_batch(page: Page) -> Response:
    """GET: comment plus repeating (name, file) rows. POST: store the files and create a ``ready`` batch."""
    control = await _control(page)
    if control is None:
        return page.message("Not found", "No such control file.", 404, "/admin/control-files")
    try:
        count = min(max(int(page.request.query_params.get("rows", "2")), 1), 20)
    except ValueError:
        count = 2

    def form(
        status: int = 200, error: str | None = None, comment: str = "", names: list[str] | None = None
    ) -> Response:
        names = names or []
        shown = max(count, len(names))
        names = names + [""] * (shown - len(names))
        return page.render(
            "new_batch.html",
            status,
            title="New batch",
            control=control,
            error=error,
            comment=comment,
            names=names,
        )

    if page.form is None:
        return form()
    comment = page.field("comment")
    rows, error = _batch_rows(page)
    if error is None and not comment:
        error = "A comment is required."
    service = page.gateway.imports.batches
    if error is None:  # before any file is stored
        error = await run_in_threadpool(_unlisted, service, control["digest"], [r.name for r in rows])
    if error is not None:
        return form(400, error, comment, [r.name for r in rows])
    blobs = page.gateway.imports.blobs
    staged: list[PendingBlob] = []
    try:
        for row in rows:
            assert row.upload is not None
            staged.append(await blobs.stage_stream(_chunks(row.upload)))
        with contextlib.ExitStack() as stored:  # the files are kept only if the batch is created
            files = []
            for row, pending in zip(rows, staged, strict=True):
                assert row.upload is not None
                digest, size = stored.enter_context(pending.kept())
                entry = {"digest": digest, "fileSize": size, "filename": row.upload.filename or ""}
                files.append({"name": row.name, "file": entry})
            batch = await run_in_threadpool(service.create_batch, control["digest"], comment, "ready", files)
    except BatchRequestError as refused:
        return form(400, refused.message, comment, [r.name for r in rows])
    finally:
        for pending in staged:
            await pending.discard()
    page.set_flash("Batch created. Do a dry run first.")
    return page.redirect(f"/admin/batch/{batch['identifier']}")


def _listing(page: Page, query: batch_list.BatchQuery) -> dict[str, Any]:
    """The template values of one page of the batch list."""
    service = page.gateway.imports.batches
    controls = {str(c["id"]): c for c in service.list_controls()}
    selection = batch_list.select(service.list(query.state or None), query, controls)
    rows = [batch_list.batch_row(b, controls.get(str(b.get("control_id")))) for b in selection.batches]
    return {"rows": rows, "selection": selection, "query": query}


@admin_view
async def batches(page: Page) -> Response:
    """The batches, newest first: filtered by state, creation date, text and errors, a page at a time."""
    values: dict[str, Any] = {"title": "Batch import jobs", "states": STATES, "error": None}
    try:
        query = batch_list.parse_query(page.request.query_params)
    except batch_list.QueryError as bad:
        values.update(error=str(bad), rows=[], selection=None, query=None)
        return page.render("batches.html", 400, **values, raw=page.request.query_params)
    listing = await run_in_threadpool(_listing, page, query)
    return page.render("batches.html", **values, **listing, raw=page.request.query_params)


async def _batch(page: Page) -> dict[str, Any] | None:
    return await run_in_threadpool(page.gateway.imports.batches.get, page.request.path_params["identifier"])


def _not_found(page: Page) -> Response:
    return page.message("Not found", "No such batch.", 404, "/admin/batches")


@admin_view
async def batch(page: Page) -> Response:
    """A batch: its details, notices, actions, files, progress and log."""
    found = await _batch(page)
    if found is None:
        return _not_found(page)
    controls = page.gateway.imports.batches
    control = await run_in_threadpool(controls.get_control, found.get("control_id") or "")
    params = dict(page.request.query_params)
    errors = await run_in_threadpool(log_view, page.gateway.imports.errors, found, params)
    return page.render(
        "batch.html",
        title=f"Batch import: {found.get('comment') or ''}",
        batch=found,
        control=control,
        active=found.get("state") in ACTIVE_STATES,
        log_view=errors,
    )


@admin_view
async def batch_progress(page: Page) -> Response:
    """JSON for the batch page's live progress: state, errors, progress."""
    found = await _batch(page)
    if found is None:
        return JSONResponse({"error": "Batch not found"}, status_code=404)
    return JSONResponse(
        {"state": found.get("state"), "errors": found.get("errors"), "progress": found.get("progress")}
    )


@admin_view
async def batch_file(page: Page) -> Response:
    """One of the batch's files as a download (``index`` counts from 0 in upload order)."""
    found = await _batch(page)
    files = (found or {}).get("files") or []
    index = page.request.path_params["index"]
    if found is None or not 0 <= index < len(files):
        return _not_found(page)
    entry = files[index]["file"]
    name = entry.get("filename") or files[index]["name"]
    response = await _download(page, str(entry["digest"]), "application/octet-stream", name)
    if response is None:
        return page.message(
            "Not found", "The stored file is missing.", 404, f"/admin/batch/{found['identifier']}"
        )
    return response


@admin_view
async def batch_log(page: Page) -> Response:
    """The batch's log as a text download."""
    found = await _batch(page)
    if found is None:
        return _not_found(page)
    text = found.get("log") or ""
    return Response(
        text + ("\n" if text else ""),
        media_type="text/plain; charset=utf-8",
        headers=_attachment(f"batch-{found['identifier'][:10]}.log"),
    )


@admin_view
async def schedule_batch(page: Page) -> Response:
    """GET: confirm a dry run or an import of a ``ready`` batch. POST: schedule it."""
    mode = page.request.path_params["mode"]
    found = await _batch(page)
    if found is None or mode not in MODES:
        return _not_found(page)
    back = f"/admin/batch/{found['identifier']}"
    if found.get("state") != "ready":
        return page.message("Wrong state", "Batch is in the wrong state", 409, back)
    if page.form is None:
        text = (
            "Run the import in dry run mode? Data will be checked but not imported."
            if MODES[mode]
            else "Import this data? The application will be modified. Always do a dry run first."
        )
        button = "Dry run" if MODES[mode] else "Import data"
        return page.render(
            "confirm.html", title=f"{button}: {found.get('comment')}", text=text, button=button, back=back
        )
    service = page.gateway.imports.batches
    try:
        await run_in_threadpool(service.schedule, found["identifier"], MODES[mode], ("ready",))
    except BatchRequestError:
        return page.message("Wrong state", "Batch is in the wrong state", 409, back)
    page.set_flash("Dry run scheduled." if MODES[mode] else "Import scheduled.")
    return page.redirect(back)


@admin_view
async def copy_batch(page: Page) -> Response:
    """GET: confirm. POST: a new ``ready`` batch with the same control and files."""
    found = await _batch(page)
    if found is None:
        return _not_found(page)
    back = f"/admin/batch/{found['identifier']}"
    if page.form is None:
        return page.render(
            "confirm.html",
            title=f"Copy batch: {found.get('comment')}",
            text="Copy this batch so it can be run again?",
            button="Copy batch",
            back=back,
        )
    try:
        copied = await run_in_threadpool(page.gateway.imports.batches.copy, found["identifier"])
    except BatchRequestError as refused:
        return page.message("Cannot copy", refused.message, 400, back)
    page.set_flash("Batch copied: this is the new batch.")
    return page.redirect(f"/admin/batch/{copied['identifier']}")
