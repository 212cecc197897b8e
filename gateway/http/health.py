"""``GET /health`` and ``GET /ready`` (no authentication)."""

from __future__ import annotations

import shutil

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.process import Gateway
from gateway.storage.errors import StoreFailure


async def health(request: Request) -> Response:
    """200 whenever the process answers."""
    return PlainTextResponse("OK")


def readiness_problems(gateway: Gateway | None) -> list[str]:
    """Names of the failing checks: availability (set_status), store, files (an S3 bucket), scheduler, worker, disk."""
    if gateway is None:
        return ["store: not open"]
    problems = []
    if gateway.status.unavailable:
        problems.append("availability: set to Unavailable by set_status (clear_status or set it Available)")
    try:
        gateway.storage.catalog.list_databases()
        gateway.storage.records.get("system", "hdb_user", "")
    except Exception as exc:
        problems.append(f"store: {exc}")
    try:
        gateway.imports.blobs.check()
    except StoreFailure as exc:
        problems.append(f"files: {exc}")
    if not gateway.jobs.scheduler.running:
        problems.append("scheduler: not running")
    if gateway.jobs.working and not gateway.jobs.queue.working:
        problems.append("worker: not running (it starts again by itself once the store answers)")
    free = shutil.disk_usage(gateway.config.root).free
    floor = int(gateway.config.get("storage.min_free_bytes"))
    if free < floor:
        problems.append(
            f"disk: only {free} bytes free under {gateway.config.root} (storage.min_free_bytes is {floor})"
        )
    return problems


async def ready(request: Request) -> Response:
    """200 when store, files, scheduler, worker and disk are fine, else 503 naming the failing checks."""
    problems = readiness_problems(getattr(request.app.state, "gateway", None))
    if problems:
        return JSONResponse({"ready": False, "problems": problems}, status_code=503)
    return JSONResponse({"ready": True})


routes = [Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"])]
