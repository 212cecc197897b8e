"""The Haplo batch API: ``/api/haplo-data-import-batch/{control,batch,file,schedule,status,rejects,changes}``.

Order of checks for every endpoint (haplo-import.md §1.1, §1.2):
1. the API key, if one is presented as ``Basic haplo:<key>`` (403 JSON on failure);
2. the body is read (a multipart file streams into a pending blob, written only
   for an authenticated caller);
3. the request-argument rule: a missing or empty required parameter is
   400 ``Bad request (failed validation)``; so is a body that is not a form, and
   a file field sent twice is 400 ``Bad request (failed validation): more than
   one 'file' part`` (nothing of it is stored);
4. the permission check: a caller without a valid key gets 403
   ``You are not permitted to perform this action.``;
5. the endpoint itself (400 with the spec's text, or 200).
Every answer is text/plain except the API-key 403, which is Haplo's JSON. A full
device is 507 naming the store (``no space left on the device (files store)``);
an upload whose declared ``Content-Length`` does not fit is refused so before
anything is read. A store that cannot be reached (PostgreSQL, the S3 bucket of the
files) is 503 naming it; nothing of the request is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway.auth.api_keys import INVALID, SERVICE_USER, ApiKeyRejected
from gateway.auth.basic import basic_credentials
from gateway.http.uploads import DuplicateFilePart, Form, MalformedRequest, merged_parameters, stream_form
from gateway.imports.reject_file import open_reject_file
from gateway.imports.rejects import RejectsUnavailable
from gateway.imports.service import BatchRequestError, BatchService
from gateway.imports.summary import change_report, status_counts
from gateway.process import Gateway
from gateway.storage.errors import OutOfSpace, StoreUnavailable

log = logging.getLogger("gateway.http")

PREFIX = "/api/haplo-data-import-batch/"
FAILED_VALIDATION = "Bad request (failed validation)"
NOT_PERMITTED = "You are not permitted to perform this action."
MAX_CONTROL_BYTES = 16 * 1024 * 1024


def text(body: str, status: int = 200) -> Response:
    """A text/plain answer."""
    return PlainTextResponse(body, status_code=status)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


WRONG_USER = f"The user must be '{SERVICE_USER}': present the API key as HTTP Basic {SERVICE_USER}:<key>"


def _presented_key(request: Request) -> str | None:
    """The key of an ``Authorization: Basic haplo:<key>`` header, else None (anonymous).

    Raises ApiKeyRejected for Basic credentials of another user (ours: Haplo treats
    them as anonymous, which leaves a script's author guessing)."""
    credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is None:
        return None
    if credentials[0] != SERVICE_USER:
        raise ApiKeyRejected(INVALID, message=WRONG_USER)
    return credentials[1]


async def authenticate(request: Request) -> bool | Response:
    """True for a valid key, False for an anonymous caller, a 403 JSON response for a bad key."""
    api_keys = _gateway(request).auth.api_keys
    client_ip = request.client.host if request.client else ""
    try:
        key = _presented_key(request)
        if key is None:
            return False
        await run_in_threadpool(api_keys.authenticate, key, request.url.path, client_ip)
    except ApiKeyRejected as rejected:
        response = Response(rejected.body(), status_code=403, media_type="application/json")
        if rejected.retry_after is not None:
            response.headers["Retry-After"] = str(rejected.retry_after)
        return response
    return True


def declared_length(request: Request) -> int:
    """The body's declared ``Content-Length`` (0 when absent or unreadable: the stream decides)."""
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0


Handler = Callable[[Request, dict[str, Any], Form], Awaitable[Response]]


def endpoint(required: tuple[str, ...], keep_files: tuple[str, ...] = ()) -> Callable[[Handler], Any]:
    """Wrap a handler with key check, body reading, the argument rule and the permission check."""

    def wrap(handler: Handler) -> Any:
        async def route(request: Request) -> Response:
            allowed = await authenticate(request)
            if isinstance(allowed, Response):
                return allowed
            blobs = _gateway(request).imports.blobs
            try:
                if allowed and keep_files:
                    blobs.check_room(declared_length(request))
                async with stream_form(request, blobs if allowed else None, set(keep_files)) as form:
                    params = merged_parameters(request, form)
                    for name in required:
                        if name in keep_files:
                            if name not in form.files:
                                return text(FAILED_VALIDATION, 400)
                        elif not params.get(name):
                            return text(FAILED_VALIDATION, 400)
                    if not allowed:
                        return text(NOT_PERMITTED, 403)
                    return await handler(request, params, form)
            except DuplicateFilePart as duplicate:
                return text(f"{FAILED_VALIDATION}: {duplicate}", 400)
            except MalformedRequest:
                return text(FAILED_VALIDATION, 400)
            except OutOfSpace as full:  # 507 Insufficient Storage: nothing of the request was kept
                return text(str(full), 507)
            except StoreUnavailable as down:  # 503: a store's server cannot be reached
                log.warning("batch API request failed (503): %s", down)
                return text(str(down), 503)

        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        return route

    return wrap


@endpoint(required=("file",), keep_files=("file",))
async def upload_control(request: Request, params: dict[str, Any], form: Form) -> Response:
    """§1.2.1: validate and store a control file; 200 with its digest."""
    service = _gateway(request).imports.batches
    part = form.files["file"]
    assert part.blob is not None
    if part.size > MAX_CONTROL_BYTES:
        return text(f"Control file too large (limit {MAX_CONTROL_BYTES} bytes)", 413)
    try:
        row, warnings = await run_in_threadpool(_store_control, service, form, params.get("comment") or None)
    except BatchRequestError as error:
        return text(error.message, 400)
    return control_answer(request, str(row["digest"]), warnings)


def control_answer(request: Request, digest: str, warnings: list[str]) -> Response:
    """The digest as text (Haplo's answer) with one ``X-Control-Warning`` header per warning
    (ASCII, JSON string escapes); ``{"digest", "warnings"}`` for a client that accepts only JSON."""
    if request.headers.get("accept", "").strip().lower() == "application/json":
        return JSONResponse({"digest": digest, "warnings": warnings})
    response = text(digest)
    for warning in warnings:
        response.headers.append("X-Control-Warning", json.dumps(warning)[1:-1])
    return response


def _store_control(
    service: BatchService, form: Form, comment: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Validate the uploaded control file, then commit its blob and record the control row;
    the row and the control file's warnings (see ``BatchService.control_warnings``)."""
    part = form.files["file"]
    assert part.blob is not None
    control = service.check_control(part.blob.read_bytes() if part.size else b"")
    with part.blob.kept() as (digest, size):  # no row, no blob
        row = service.add_control_row(digest, size, comment, True)
    return row, service.control_warnings(control)


@endpoint(required=("control",))
async def create_batch(request: Request, params: dict[str, Any], form: Form) -> Response:
    """§1.2.2: a new ``uploading`` batch; 200 with its identifier."""
    service = _gateway(request).imports.batches
    try:
        batch = await run_in_threadpool(
            service.create_batch, params["control"], params.get("comment") or None
        )
    except BatchRequestError as error:
        return text(error.message, 400)
    return text(str(batch["identifier"]))


def _store_file(service: BatchService, identifier: str, name: str, form: Form) -> str:
    """Check, commit the pending blob and append it to the batch, all under the batch lock."""
    part = form.files["file"]
    assert part.blob is not None
    with service.lock:
        service.check_can_add(identifier, name, part.filename)
        with part.blob.kept() as (digest, size):  # no row, no blob
            service.add_file(identifier, name, digest, size, part.filename)
    return digest


@endpoint(required=("batch", "name", "file"), keep_files=("file",))
async def add_file(request: Request, params: dict[str, Any], form: Form) -> Response:
    """§1.2.3: store a data file and append it to an ``uploading`` batch; 200 with its digest."""
    service = _gateway(request).imports.batches
    try:
        digest = await run_in_threadpool(_store_file, service, params["batch"], params["name"], form)
    except BatchRequestError as error:
        return text(error.message, 400)
    return text(digest)


@endpoint(required=("batch",))
async def schedule(request: Request, params: dict[str, Any], form: Form) -> Response:
    """§1.2.4: schedule an ``uploading`` batch (``mode=dry-run`` for a dry run); 200 ``SCHEDULED``."""
    service = _gateway(request).imports.batches
    mode = params.get("mode") or ""
    if mode not in ("", "dry-run"):
        return text(f"Unknown mode: {mode}", 400)
    try:
        await run_in_threadpool(service.schedule, params["batch"], mode == "dry-run", ("uploading",))
    except BatchRequestError as error:
        return text(error.message, 400)
    return text("SCHEDULED")


@endpoint(required=("batch",))
async def status(request: Request, params: dict[str, Any], form: Form) -> Response:
    """Ours: ``state:``, ``errors:``, ``percent:``, ``read:``, ``committed:`` and ``failed:`` lines for
    scripts that poll (records read, committed, failed; while running, as last saved).

    With ``log=1`` the stored log follows after a blank line (nothing before the run).
    """
    service = _gateway(request).imports.batches
    batch = await run_in_threadpool(service.get, params["batch"])
    if batch is None:
        return text(f"Batch not found: {params['batch']}", 400)
    progress = batch["progress"]
    errors = batch["errors"] if batch["errors"] is not None else progress["errors"]
    percent = progress["percent"]
    shown = int(percent) if float(percent).is_integer() else percent
    read, committed, failed = status_counts(batch)
    body = (
        f"state: {batch['state']}\nerrors: {errors}\npercent: {shown}\n"
        f"read: {read}\ncommitted: {committed}\nfailed: {failed}\n"
    )
    if params.get("log") in ("1", "true", "yes"):
        body += "\n" + (batch["log"] or "")
    return text(body)


@endpoint(required=("batch",))
async def rejects(request: Request, params: dict[str, Any], form: Form) -> Response:
    """Ours: the failed input records of an ended batch in their input format, each with its errors
    (``file=<name>`` chooses the batch file; needed when several have failed records). Streamed."""
    imports = _gateway(request).imports
    try:
        reject = await run_in_threadpool(
            open_reject_file, imports.batches, imports.errors, params["batch"], params.get("file") or None
        )
    except RejectsUnavailable as refused:
        return text(str(refused), 400)
    disposition = {"Content-Disposition": f'attachment; filename="{reject.filename}"'}
    return StreamingResponse(reject.chunks, media_type=reject.media_type, headers=disposition)


@endpoint(required=("batch",))
async def changes(request: Request, params: dict[str, Any], form: Form) -> Response:
    """Ours: the batch's change report as JSON (per table new/updated/unchanged; a dry run's first
    updated records with the Names that would change); 409 if the batch has not finished."""
    service = _gateway(request).imports.batches
    batch = await run_in_threadpool(service.get, params["batch"])
    if batch is None:
        return text(f"Batch not found: {params['batch']}", 400)
    report = change_report(batch)
    if report is None or batch["state"] == "running":  # 409: the batch is in the wrong state for it
        message = (
            f"Batch {batch['identifier']} has no change report: it has not finished (state {batch['state']})"
        )
        return text(message, 409)
    return JSONResponse(report)


routes: list[BaseRoute] = [
    Route(PREFIX + "control", upload_control, methods=["POST"]),
    Route(PREFIX + "batch", create_batch, methods=["POST"]),
    Route(PREFIX + "file", add_file, methods=["POST"]),
    Route(PREFIX + "schedule", schedule, methods=["POST"]),
    Route(PREFIX + "status", status, methods=["GET"]),
    Route(PREFIX + "rejects", rejects, methods=["GET"]),
    Route(PREFIX + "changes", changes, methods=["GET"]),
]
