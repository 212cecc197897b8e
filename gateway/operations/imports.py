"""Operations of the import family (operations.md §4): models, control files, batches, API keys.

All super_user except ``get_import_batch``. The work is done by the services
of the import family (``gateway.imports``); handlers only check fields and shape
the answers.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

from engine import validate_control
from engine.limits import CONTROL_TOO_DEEP, nests_deeper
from gateway import fields
from gateway.auth.api_keys import DEFAULT_PATH, ApiKeyRequestError, ApiKeyService
from gateway.errors import OperationError
from gateway.imports.models import ModelRegistry, ModelRejected
from gateway.imports.service import STATES, BatchRequestError, BatchService, json_problem
from gateway.operations.registry import OperationContext, operation

MAX_MODEL_DEPTH: Final = 128
"""The most levels of arrays and objects a model sent as JSON text may nest (as a body may)."""


def _models(ctx: OperationContext) -> ModelRegistry:
    return ctx.gateway.imports.models


def _batches(ctx: OperationContext) -> BatchService:
    return ctx.gateway.imports.batches


def _keys(ctx: OperationContext) -> ApiKeyService:
    return ctx.gateway.auth.api_keys


def _required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise OperationError(f"'{name}' is required")
    if not isinstance(value, str):
        raise OperationError(f"'{name}' must be a string")
    return value


# -- models --------------------------------------------------------------------


@operation("add_import_model", super_user=True, internal_name="addImportModel")
def add_import_model(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Validate a model (400 listing every problem), create its database and tables."""
    if "model" not in body:
        raise OperationError("'model' is required")
    replace = fields.boolean(body, "replace", False)
    data = body["model"]
    if isinstance(data, str):
        try:  # orjson: numbers within 64 bits, at most 1,024 levels
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise OperationError("'model' is not valid JSON") from exc
        if nests_deeper(data, MAX_MODEL_DEPTH):
            raise OperationError(f"'model' nests arrays and objects more than {MAX_MODEL_DEPTH} levels deep")
    try:
        model, tables = _models(ctx).add(data, replace=replace)
    except ModelRejected as exc:
        raise OperationError("Invalid model: " + "; ".join(exc.problems), 400, problems=exc.problems) from exc
    verb = "replaced" if replace else "added"
    return {
        "message": f"Model '{model.name}' successfully {verb}",
        "database": model.database,
        "tables": tables,
    }


@operation("drop_import_model", super_user=True, internal_name="dropImportModel")
def drop_import_model(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Forget a model; its database and records stay."""
    name = _required_str(body, "name")
    if not _models(ctx).drop(name):
        raise OperationError(f"Model '{name}' not found", 404)
    return {"message": f"Model '{name}' successfully dropped"}


@operation("list_import_models", super_user=True, internal_name="listImportModels")
def list_import_models(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Every registered model: name, title, description, database, tables."""
    out = []
    for name, model in sorted(_models(ctx).all().items()):
        out.append(
            {
                "name": name,
                "title": model.title,
                "description": model.description,
                "database": model.database,
                "tables": [d.table for d in model.destinations if not d.pseudo],
            }
        )
    return out


@operation("describe_import_model", super_user=True, internal_name="describeImportModel")
def describe_import_model(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """One model with its destinations (pseudo ones included) and Names."""
    name = _required_str(body, "name")
    model = _models(ctx).get(name)
    if model is None:
        raise OperationError(f"Model '{name}' not found", 404)
    return model.describe()


@operation("validate_control_file", super_user=True, internal_name="validateControlFile")
def validate_control_file(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """``{"valid", "errors"}`` for a control file given as an object or as JSON text."""
    if "control" not in body:
        raise OperationError("'control' is required")
    control = body["control"]
    if isinstance(control, str):
        try:
            control = json.loads(control)
        except RecursionError:
            return {"valid": False, "errors": [CONTROL_TOO_DEEP]}
        except ValueError as exc:
            return {"valid": False, "errors": [f"Uploaded file is not JSON: {json_problem(exc)}"]}
    errors = validate_control(control, _models(ctx).names())
    return {"valid": not errors, "errors": errors}


# -- API keys ------------------------------------------------------------------


@operation("create_api_key", super_user=True, internal_name="createApiKey")
def create_api_key(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """A new batch API key: ``{id, name, path, key}``; the key is never shown again."""
    path = body.get("path")
    if path is None or path == "":
        path = DEFAULT_PATH
    try:
        return _keys(ctx).create(_required_str(body, "name"), path, body.get("expires"))
    except ApiKeyRequestError as exc:
        raise OperationError(str(exc)) from exc


@operation("list_api_keys", super_user=True, internal_name="listApiKeys")
def list_api_keys(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Every key without its secret (with ``last_used``)."""
    return _keys(ctx).list()


@operation("revoke_api_key", super_user=True, internal_name="revokeApiKey")
def revoke_api_key(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Delete a key; refused at once on its next use."""
    key_id = _required_str(body, "id")
    if not _keys(ctx).revoke(key_id):
        raise OperationError(f"API key '{key_id}' not found", 404)
    return {"message": f"API key '{key_id}' successfully revoked"}


# -- control files and batches -----------------------------------------------------


@operation("list_control_files", super_user=True, internal_name="listControlFiles")
def list_control_files(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Control rows, newest first: id, digest, file_size, comment, created."""
    return _batches(ctx).list_controls()


@operation("list_import_batches", super_user=True, internal_name="listImportBatches")
def list_import_batches(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Batches newest first, optionally of one ``state`` and at most ``limit``."""
    state = body.get("state")
    if state is not None and state not in STATES:
        raise OperationError(f"'state' must be one of: {', '.join(STATES)}")
    limit = body.get("limit")
    if limit is not None:
        limit = fields.json_integer(limit)
        if limit is None or limit < 0:
            raise OperationError("'limit' must be a non-negative integer")
    return _batches(ctx).list(state, limit)


@operation("get_import_batch", internal_name="getImportBatch")
def get_import_batch(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """One batch: identifier, state, errors, log, comment, control, files, created, progress and
    summary (what the run did: records read, committed, failed, skipped, per table new/updated/
    unchanged, a dry run's sampled changes, duration, how far an interrupted run got)."""
    identifier = _required_str(body, "batch")
    batch = _batches(ctx).get(identifier)
    if batch is None:
        raise OperationError(f"Batch not found: {identifier}", 404)
    return batch


@operation("copy_import_batch", super_user=True, internal_name="copyImportBatch")
def copy_import_batch(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """A new ``ready`` batch with the same control and files (comment + `` (copy)``)."""
    identifier = _required_str(body, "batch")
    try:
        return _batches(ctx).copy(identifier)
    except BatchRequestError as exc:
        raise OperationError(exc.message, 404) from exc
