"""The admin pages' routes (mounted under ``/admin``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.admin import batch_log, batches, framework, keys, login, push_apis, summaries

STATIC_DIR = Path(__file__).parent / "static"

GET = ["GET"]
BOTH = ["GET", "POST"]
POST = ["POST"]


def _route(path: str, endpoint: Callable[..., Any], methods: list[str]) -> Route:
    return Route(path, endpoint, methods=methods, include_in_schema=False)


routes: list[BaseRoute] = [
    _route("/", framework.home, GET),
    _route("/login", login.login, BOTH),
    _route("/logout", login.logout, POST),
    _route("/models", framework.models, GET),
    _route("/model", framework.model, GET),
    _route("/generate-control-file", framework.generate, BOTH),
    _route("/filters", framework.filters, GET),
    _route("/documentation", framework.documentation, GET),
    _route("/batch-import", batches.batch_home, GET),
    _route("/control-files", batches.control_files, GET),
    _route("/new-control-file", batches.new_control_file, BOTH),
    _route("/control-file/{control_id}", batches.control_file, GET),
    _route("/control-file/{control_id}/download", batches.control_file_download, GET),
    _route("/new-batch/for-control/{control_id}", batches.new_batch, BOTH),
    _route("/batches", batches.batches, GET),
    _route("/batch/{identifier}", batches.batch, GET),
    _route("/batch/{identifier}/progress", batches.batch_progress, GET),
    _route("/batch/{identifier}/log", batches.batch_log, GET),
    _route("/batch/{identifier}/rejects", batch_log.batch_rejects, GET),
    _route("/batch/{identifier}/changes", summaries.batch_changes, GET),
    _route("/batch/{identifier}/file/{index:int}", batches.batch_file, GET),
    _route("/schedule-batch/{mode}/{identifier}", batches.schedule_batch, BOTH),
    _route("/copy-batch/{identifier}", batches.copy_batch, BOTH),
    _route("/create-api-key", keys.create_api_key, BOTH),
    _route("/api-keys", keys.api_keys, GET),
    _route("/api-keys/{key_id}/revoke", keys.revoke_api_key, POST),
    _route("/push-apis", push_apis.push_apis, GET),
    _route("/new-push-api", push_apis.new_push_api, BOTH),
    _route("/push-api/{url}/enabled", push_apis.set_push_api_enabled, POST),
    _route("/push-api/{url}/delete", push_apis.delete_push_api, POST),
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="admin-static"),
]
