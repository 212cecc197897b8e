"""``GET /openapi.yaml``: the OpenAPI 3.0 description, generated from the app's routes.

Paths and methods come from the routing table (Starlette's ``SchemaGenerator``
walks it). An endpoint's description is the YAML after ``---`` in its
docstring when it has one, else the entry in ``ENDPOINT_DOCS`` below, else a
stub from the docstring's first line, so no route goes undescribed. The body of
``POST /`` is a ``oneOf`` discriminated by ``operation``, one branch per
operation in ``gateway.operations.OPERATIONS`` with the field schemas of
``gateway.http.openapi_operations``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from gateway.http.openapi_operations import OPERATION_FIELDS, operation_schema
from gateway.operations import OPERATIONS

Schema = dict[str, Any]
BATCH = "/api/haplo-data-import-batch/"

TEXT: Schema = {"text/plain": {"schema": {"type": "string"}}}
ERROR_JSON: Schema = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
            "additionalProperties": True,
        }
    }
}
KEY_REFUSED: Schema = {
    "description": "API key refused (Haplo's JSON: kind INVALID-API-KEY, UNAUTHORISED or THROTTLE; THROTTLE "
    "comes with Retry-After), or no key (text/plain 'You are not permitted to perform this action.').",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "success": {"type": "boolean"},
                    "kind": {"type": "string"},
                    "error": {"type": "object", "properties": {"message": {"type": "string"}}},
                },
            }
        },
        **TEXT,
    },
}
BAD_REQUEST: Schema = {
    "description": "'Bad request (failed validation)' for a missing or empty required field, or the spec's message.",
    "content": TEXT,
}
KEY_SECURITY: list[dict[str, list[str]]] = [{"haploKey": []}]


def _form(properties: Schema, required: list[str], multipart: bool) -> Schema:
    media = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
    return {
        "required": True,
        "content": {media: {"schema": {"type": "object", "properties": properties, "required": required}}},
    }


def _batch_endpoint(summary: str, body: Schema, ok: str) -> Schema:
    return {
        "summary": summary,
        "tags": ["batch API"],
        "security": KEY_SECURITY,
        "requestBody": body,
        "responses": {
            "200": {"description": ok, "content": TEXT},
            "400": BAD_REQUEST,
            "403": KEY_REFUSED,
            "413": {"description": "The request body is too large.", "content": TEXT},
            "507": {
                "description": "No space left on the device, naming the store (records, files); "
                "nothing of the request was kept.",
                "content": TEXT,
            },
        },
    }


FILE: Schema = {"type": "string", "format": "binary"}
STR: Schema = {"type": "string"}

ENDPOINT_DOCS: dict[tuple[str, str], Schema] = {
    (BATCH + "control", "post"): _batch_endpoint(
        "Upload a control file (validated; stored by SHA-256 digest).",
        _form({"file": FILE, "comment": STR}, ["file"], True),
        "The control file's digest (lowercase hex SHA-256).",
    ),
    (BATCH + "batch", "post"): _batch_endpoint(
        "Create a batch in state 'uploading' from a control digest.",
        _form({"control": STR, "comment": STR}, ["control"], False),
        "The new batch's identifier.",
    ),
    (BATCH + "file", "post"): _batch_endpoint(
        "Add a named data file to an 'uploading' batch.",
        _form({"batch": STR, "name": STR, "file": FILE}, ["batch", "name", "file"], True),
        "The file's digest.",
    ),
    (BATCH + "schedule", "post"): _batch_endpoint(
        "Schedule an 'uploading' batch; mode=dry-run checks without importing.",
        _form({"batch": STR, "mode": {"type": "string", "enum": ["", "dry-run"]}}, ["batch"], False),
        "SCHEDULED",
    ),
    (BATCH + "status", "get"): {
        "summary": "A batch's state, error count and percent done, as text lines, for scripts that poll.",
        "description": "Answers `state: <state>`, `errors: <n>` and `percent: <p>` lines. With `log=1` the "
        "lines are followed by a blank line and the batch's log.",
        "tags": ["batch API"],
        "security": KEY_SECURITY,
        "parameters": [
            {"name": "batch", "in": "query", "required": True, "schema": STR},
            {
                "name": "log",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["1"]},
                "description": "Also send the log after a blank line.",
            },
        ],
        "responses": {
            "200": {"description": "Status lines (and the log with log=1).", "content": TEXT},
            "400": BAD_REQUEST,
            "403": KEY_REFUSED,
        },
    },
    ("/health", "get"): {
        "summary": "200 whenever the process answers (no authentication).",
        "tags": ["service"],
        "security": [],
        "responses": {"200": {"description": "OK", "content": TEXT}},
    },
    ("/ready", "get"): {
        "summary": "200 when store, scheduler and disk are fine, else 503 naming the failing checks.",
        "tags": ["service"],
        "security": [],
        "responses": {
            "200": {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object"}}}},
            "503": {
                "description": "Not ready: {ready: false, problems: [...]}.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
        },
    },
    ("/", "get"): {
        "summary": "Redirects a browser to the admin pages.",
        "tags": ["service"],
        "security": [],
        "responses": {"303": {"description": "See /admin/."}},
    },
    ("/openapi.yaml", "get"): {
        "summary": "This description.",
        "tags": ["service"],
        "security": [],
        "responses": {
            "200": {"description": "OpenAPI 3.0 YAML.", "content": {"application/yaml": {"schema": STR}}}
        },
    },
}


def operations_endpoint_doc() -> Schema:
    """``POST /``: the operation bodies as a discriminated ``oneOf``."""
    names = sorted(OPERATIONS)
    return {
        "summary": "The Operations API: one JSON body {operation, ...} per call (HarperDB-style).",
        "tags": ["operations"],
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [{"$ref": f"#/components/schemas/op_{name}"} for name in names],
                        "discriminator": {
                            "propertyName": "operation",
                            "mapping": {name: f"#/components/schemas/op_{name}" for name in names},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "The operation's answer (JSON).",
                "content": {"application/json": {"schema": {}}},
            },
            "400": {
                "description": "Bad body, unknown or unsupported operation, bad fields.",
                "content": ERROR_JSON,
            },
            "401": {"description": "Must login / Login failed / invalid token.", "content": ERROR_JSON},
            "403": {"description": "The role does not allow it.", "content": ERROR_JSON},
            "404": {"description": "Database or table not found.", "content": ERROR_JSON},
            "409": {"description": "Duplicate user or role.", "content": ERROR_JSON},
            "429": {
                "description": "Too many failed login attempts for this user from this address; "
                "wait the seconds in Retry-After.",
                "content": ERROR_JSON,
            },
            "507": {
                "description": "No space left on the device, naming the store "
                "(`no space left on the device (records store)`); nothing of the operation was kept.",
                "content": ERROR_JSON,
            },
        },
    }


def fields_source(name: str) -> str | None:
    """The operation whose written fields describe ``name``: itself, or the operation it is an alias of."""
    if name in OPERATION_FIELDS:
        return name
    handler = OPERATIONS[name].handler
    return next(
        (n for n, s in sorted(OPERATIONS.items()) if s.handler is handler and n in OPERATION_FIELDS), None
    )


def _docstring_yaml(func: Callable[..., Any]) -> Schema | None:
    doc = func.__doc__ or ""
    if "---" not in doc:
        return None
    parsed = yaml.safe_load(doc.split("---")[-1])
    return parsed if isinstance(parsed, dict) else None


def _stub(func: Callable[..., Any]) -> Schema:
    first = (func.__doc__ or "").strip().splitlines()
    return {
        "summary": first[0] if first else func.__name__,
        "responses": {"default": {"description": "Answer."}},
    }


def build_openapi(routes: list[BaseRoute]) -> Schema:
    """The OpenAPI document for these routes."""
    generator = SchemaGenerator({})
    paths: dict[str, dict[str, Schema]] = {}
    for endpoint in generator.get_endpoints(routes):
        path, method = endpoint.path, endpoint.http_method
        if path.startswith("/admin"):
            continue
        if (path, method) == ("/", "post"):
            doc = operations_endpoint_doc()
        else:
            doc = (
                _docstring_yaml(endpoint.func)
                or copy.deepcopy(ENDPOINT_DOCS.get((path, method)))
                or _stub(endpoint.func)
            )
        paths.setdefault(path, {})[method] = doc
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Batch import gateway",
            "version": "0.1.0",
            "description": "Haplo-style batch import API (API keys) and HarperDB-style Operations API (users).",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "A gateway user."},
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An operation token from create_authentication_tokens.",
                },
                "haploKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "An API key as HTTP Basic with user name 'haplo' and the key as password.",
                },
            },
            "schemas": {
                f"op_{name}": operation_schema(name, fields_source(name)) for name in sorted(OPERATIONS)
            },
        },
    }


class _NoAliases(yaml.SafeDumper):
    """Write repeated sub-schemas out in full (no YAML anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


async def openapi_yaml(request: Request) -> Response:
    """The OpenAPI description of this gateway as YAML."""
    cached = getattr(request.app.state, "openapi_yaml", None)
    if cached is None:
        document = build_openapi(list(request.app.routes))
        cached = yaml.dump(document, Dumper=_NoAliases, sort_keys=False, allow_unicode=True)
        request.app.state.openapi_yaml = cached
    return Response(cached, media_type="application/yaml")


routes: list[BaseRoute] = [Route("/openapi.yaml", openapi_yaml, methods=["GET"])]
