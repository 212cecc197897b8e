"""``GET /openapi.yaml``: the OpenAPI 3.1 description, generated from the app's routes.

Paths and methods come from the routing table (Starlette's ``SchemaGenerator``
walks it). An endpoint's description is the YAML after ``---`` in its
docstring when it has one, else the entry in ``ENDPOINT_DOCS`` below, else a
stub from the docstring's first line, so no route goes undescribed. The body of
``POST /`` is a ``oneOf`` discriminated by ``operation``, one branch per
operation in ``gateway.operations.OPERATIONS`` (``components/schemas/op_<name>``)
with the schemas of ``gateway.http.openapi_operations``; each branch names the
statuses that operation may answer (``x-statuses``) and the schema of its 200
answer (``x-answer``: ``components/schemas/answer_<name>``).
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

from gateway.http.batch_api import FAILED_VALIDATION, MAX_CONTROL_BYTES, NOT_PERMITTED
from gateway.http.body_limits import MAX_BODY_DEPTH
from gateway.http.openapi_operations import (
    BATCH_ID,
    CHANGE_ROW,
    DIGEST,
    DOCS,
    SHARED,
    answer_schema,
    operation_schema,
)
from gateway.http.openapi_push import PUSH_DOCS
from gateway.http.uploads import MAX_FIELD_BYTES
from gateway.operations import OPERATIONS

Schema = dict[str, Any]
BATCH = "/api/haplo-data-import-batch/"


def _text(schema: Schema | None = None) -> Schema:
    return {"text/plain": {"schema": schema or {"type": "string"}}}


ERROR: Schema = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
    "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
}
FORBIDDEN: Schema = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "unauthorized_access": {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        "invalid_schema_items": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["error"],
    "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
}
RETRY_AFTER: Schema = {
    "Retry-After": {
        "description": "Seconds to wait before the next attempt.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


KEY_REFUSED: Schema = {
    "description": "The presented API key is refused, before the body is read (Haplo's JSON: kind "
    "`INVALID-API-KEY`, also for HTTP Basic credentials of a user other than `haplo` (the message says "
    "so); or `THROTTLE` with Retry-After and `too many failed attempts from this address; retry in N s` "
    "(a right key still passes) or `… with this key; …` (after wrong secrets for that key's id)); or no "
    f"key was presented and the required fields are there (text/plain `{NOT_PERMITTED}`).",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "success": {"const": False},
                    "kind": {"type": "string", "enum": ["INVALID-API-KEY", "UNAUTHORISED", "THROTTLE"]},
                    "error": {
                        "type": "object",
                        "properties": {"message": {"type": "string"}},
                        "required": ["message"],
                    },
                },
                "required": ["success", "kind", "error"],
            }
        },
        **_text({"type": "string", "const": NOT_PERMITTED}),
    },
}
KEY_SECURITY: list[dict[str, list[str]]] = [{"haploKey": []}]
FIELD: Schema = {
    "type": "string",
    "maxLength": MAX_FIELD_BYTES // 4,
    "description": f"A text field: at most {MAX_FIELD_BYTES // 1024} KiB of UTF-8 (400 beyond).",
}
BATCH_FIELD: Schema = {"type": "string", "pattern": BATCH_ID, "description": "A batch identifier."}
FILE: Schema = {"type": "string", "format": "binary"}
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
ARGUMENT_RULE = (
    "Fields may also come in the query string. A required field that is missing or empty is 400 "
    f"`{FAILED_VALIDATION}` (also without a key: the argument rule comes before the permission check), "
    "as is a body that is not a form of these types, a text field over 64 KiB, or a `file` part sent twice."
)


def _form(properties: Schema, required: list[str], media: tuple[str, ...]) -> Schema:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {m: {"schema": copy.deepcopy(schema)} for m in media}}


def _batch_endpoint(summary: str, body: Schema, ok: Schema, ok_text: str, bad: str, uploads: bool) -> Schema:
    responses: Schema = {
        "200": {"description": ok_text, "content": _text(ok)},
        "400": {"description": f"`{FAILED_VALIDATION}`, or {bad}", "content": _text()},
        "403": KEY_REFUSED,
        "413": {
            "description": "The request body is larger than `http.max_body_size` (`Content Too Large`)"
            + (
                f", or the control file is larger than {MAX_CONTROL_BYTES} bytes."
                if "control" in summary
                else "."
            ),
            "content": _text(),
        },
        "507": {
            "description": "No space left on the device, naming the store (`no space left on the device "
            "(files store)`); nothing of the request was kept"
            + (
                "; an upload whose Content-Length does not fit is refused before it is read."
                if uploads
                else "."
            ),
            "content": _text(),
        },
    }
    return {
        "summary": summary,
        "description": ARGUMENT_RULE,
        "tags": ["batch API"],
        "security": KEY_SECURITY,
        "requestBody": body,
        "responses": responses,
    }


def _optional_query(name: str, description: str) -> Schema:
    """An optional string query parameter of a batch API GET."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


CONTROL_ANSWER: Schema = {
    "type": "object",
    "properties": {
        "digest": {"type": "string", "pattern": DIGEST},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["digest", "warnings"],
}


ENDPOINT_DOCS: dict[tuple[str, str], Schema] = {
    (BATCH + "control", "post"): _batch_endpoint(
        "Upload a control file (validated; stored by SHA-256 digest).",
        _form({"file": FILE, "comment": FIELD}, ["file"], ("multipart/form-data",)),
        {"type": "string", "pattern": DIGEST},
        "The control file's digest (lowercase hex SHA-256). Destinations and Names its model does not "
        "have (a run would report them as setup errors) come as warnings: one `X-Control-Warning` "
        "header each, or, for a client whose `Accept` is `application/json`, `{digest, warnings}`.",
        "`Uploaded file is not JSON: line L, column C: <problem>`, or `Invalid control file:` and one "
        "line per problem.",
        True,
    ),
    (BATCH + "batch", "post"): _batch_endpoint(
        "Create a batch in state 'uploading' from a control digest.",
        _form({"control": {**FIELD, "pattern": DIGEST}, "comment": FIELD}, ["control"], FORMS),
        {"type": "string", "pattern": BATCH_ID},
        "The new batch's identifier.",
        "`Control file not found: <digest>`.",
        False,
    ),
    (BATCH + "file", "post"): _batch_endpoint(
        "Add a named data file to an 'uploading' batch.",
        _form(
            {
                "batch": BATCH_FIELD,
                "name": {
                    **FIELD,
                    "minLength": 1,
                    "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
                    "description": "The file's name in the control file (no control characters, unique in the batch).",
                },
                "file": FILE,
            },
            ["batch", "name", "file"],
            ("multipart/form-data",),
        ),
        {"type": "string", "pattern": DIGEST},
        "The file's digest.",
        "`Batch not found: <id>`, a batch not in the 'uploading' state, `Duplicate file name: <name>`, "
        "`File name not in control file: <name> (it lists: <names>)` (unless it has `DEFAULT`), "
        "or a name or uploaded file name with a control character.",
        True,
    ),
    (BATCH + "schedule", "post"): _batch_endpoint(
        "Schedule an 'uploading' batch; mode=dry-run checks without importing.",
        _form(
            {
                "batch": BATCH_FIELD,
                "mode": {"type": "string", "enum": ["", "dry-run"], "description": "Empty: a real import."},
            },
            ["batch"],
            FORMS,
        ),
        {"type": "string", "const": "SCHEDULED"},
        "SCHEDULED",
        "`Unknown mode: <mode>`, `Batch not found: <id>` or a batch not in the 'uploading' state.",
        False,
    ),
    (BATCH + "status", "get"): {
        "summary": "A batch's state, error count, percent done and record counts, as text lines, for scripts that poll.",
        "description": "Answers `state: <state>`, `errors: <n>`, `percent: <p>` (of the input read; 100 only for a "
        "finished run), `read: <n>`, `committed: <n>` and `failed: <n>` lines (records; while running, as last "
        "saved). With `log` 1, true or yes the lines are followed by a blank line and the batch's log, whose `END:` "
        "line is followed by the run's summary in words (`SUMMARY:` lines). " + ARGUMENT_RULE,
        "tags": ["batch API"],
        "security": KEY_SECURITY,
        "parameters": [
            {"name": "batch", "in": "query", "required": True, "schema": BATCH_FIELD},
            _optional_query(
                "log", "`1`, `true` or `yes`: also send the log after a blank line (other values: no log)."
            ),
        ],
        "responses": {
            "200": {
                "description": "Status lines (and the log).",
                "content": _text(
                    {
                        "type": "string",
                        "pattern": "^state: [a-z-]+\nerrors: \\d+\npercent: [0-9.]+\nread: \\d+\ncommitted: \\d+\nfailed: \\d+\n",
                    }
                ),
            },
            "400": {"description": f"`{FAILED_VALIDATION}`, or `Batch not found: <id>`.", "content": _text()},
            "403": KEY_REFUSED,
        },
    },
    (BATCH + "rejects", "get"): {
        "summary": "An ended batch's failed input records, in their input format, each with its errors.",
        "description": "The reject file of one batch file, streamed: JSON: an array of the failed records, "
        "each with an `_errors` array and `_imported` (JSON Lines: one such object a line); TSV and CSV: the "
        "header row with `_imported` and `_errors` columns added, then the failed lines as they were with "
        "`yes`/`no` and their errors; XML: the root element around the failed record elements, each with "
        "`_imported` and `_errors` attributes. `_imported`: the record was stored all the same, without the "
        "values in error (conversion errors drop only the value). Every failed record "
        "is there, also past the log's error cap. Fix the records and upload them as a new batch (the "
        "`_errors` field is ignored by the control file's instructions). " + ARGUMENT_RULE,
        "tags": ["batch API"],
        "security": KEY_SECURITY,
        "parameters": [
            {"name": "batch", "in": "query", "required": True, "schema": BATCH_FIELD},
            _optional_query(
                "file",
                "The batch file's name (as in the control file). Without it: the one file with failed "
                "records; a batch with failed records in several files answers 400 naming them.",
            ),
        ],
        "responses": {
            "200": {
                "description": "The reject file, as an attachment, in the media type of the file's format.",
                "content": {
                    "application/json": {
                        "schema": {
                            "description": "The failed records (an object for a singleRecord file).",
                            "type": ["array", "object"],
                        }
                    },
                    **{
                        media: {"schema": {"type": "string"}}
                        for media in (
                            "application/jsonl",
                            "text/tab-separated-values",
                            "text/csv",
                            "application/xml",
                        )
                    },
                },
            },
            "400": {
                "description": f"`{FAILED_VALIDATION}`, `Batch not found: <id>`, a batch that has not run to "
                "an end, no failed records (in that file), no file of that name, failed records in several "
                "files without `file`, or a control file whose record processor rewrites the records.",
                "content": _text(),
            },
            "403": KEY_REFUSED,
        },
    },
    (BATCH + "changes", "get"): {
        "summary": "A batch's change report as JSON: per table new/updated/unchanged, and a dry run's sampled updates.",
        "description": "For a batch that has run: `destinations`, one entry per table of the model with the records "
        "that were (in a dry run: would be) `new`, `updated` and `unchanged`; a dry run adds `sample`, the first "
        "20 updated records of the table with the Names that would change from what to what. "
        + ARGUMENT_RULE,
        "tags": ["batch API"],
        "security": KEY_SECURITY,
        "parameters": [{"name": "batch", "in": "query", "required": True, "schema": BATCH_FIELD}],
        "responses": {
            "200": {
                "description": "The change report.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["batch", "state", "dry_run", "destinations"],
                            "properties": {
                                "batch": {"type": "string"},
                                "state": {"type": "string"},
                                "dry_run": {"type": "boolean"},
                                "finished": {"type": ["string", "null"]},
                                "sample_size": {"type": "integer"},
                                "destinations": {"type": "array", "items": CHANGE_ROW},
                            },
                        }
                    }
                },
            },
            "400": {
                "description": f"`{FAILED_VALIDATION}`, or `Batch not found: <id>`.",
                "content": _text(),
            },
            "409": {
                "description": "A batch that has not finished: `Batch <id> has no change report: it has not "
                "finished (state <state>)`.",
                "content": _text(),
            },
            "403": KEY_REFUSED,
        },
    },
    ("/health", "get"): {
        "summary": "200 whenever the process answers (no authentication).",
        "tags": ["service"],
        "security": [],
        "responses": {"200": {"description": "OK", "content": _text({"type": "string", "const": "OK"})}},
    },
    ("/ready", "get"): {
        "summary": "200 when store, scheduler and disk are fine, else 503 naming the failing checks.",
        "tags": ["service"],
        "security": [],
        "responses": {
            "200": {
                "description": "Ready.",
                "content": _json(
                    {"type": "object", "properties": {"ready": {"const": True}}, "required": ["ready"]}
                ),
            },
            "503": {
                "description": "Not ready: `{ready: false, problems: [...]}`.",
                "content": _json(
                    {
                        "type": "object",
                        "properties": {
                            "ready": {"const": False},
                            "problems": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["ready", "problems"],
                    }
                ),
            },
        },
    },
    ("/metrics", "get"): {
        "summary": "This process's metrics in the Prometheus text format (prometheus_client).",
        "description": "Requests, errors and a latency histogram per operation "
        "(`gateway_operation_requests_total`, `gateway_operation_errors_total`, "
        "`gateway_operation_duration_seconds`), batch runs and bulk jobs started, finished, failed and "
        "running (`gateway_work_*`, label `kind`), records imported (`gateway_records_imported_total`), the "
        "root's disk (`gateway_disk_free_bytes`, `gateway_disk_total_bytes`) and the standard `process_*` "
        "metrics. Open by default, as scrapers expect; with `metrics.prometheus_auth: true` a super user's "
        "Basic or Bearer credentials are needed (401, 403 otherwise).",
        "tags": ["service"],
        "security": [],
        "responses": {
            "200": {
                "description": "The text exposition format.",
                "content": {"text/plain; version=1.0.0; charset=utf-8": {"schema": {"type": "string"}}},
            },
            "401": {
                "description": "`metrics.prometheus_auth` is on and no valid credentials came.",
                "content": _json(ERROR),
            },
            "403": {
                "description": "`metrics.prometheus_auth` is on and the user is not a super user.",
                "content": _json(ERROR),
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
            "200": {
                "description": "OpenAPI 3.1 YAML.",
                "content": {
                    "application/yaml": {"schema": {"type": "object", "required": ["openapi", "paths"]}}
                },
            }
        },
    },
}

ENDPOINT_DOCS[(BATCH + "control", "post")]["responses"]["200"]["content"]["application/json"] = {
    "schema": CONTROL_ANSWER
}
ENDPOINT_DOCS.update(PUSH_DOCS)
ENDPOINT_DOCS[(BATCH + "control", "post")]["responses"]["200"]["headers"] = {
    "X-Control-Warning": {"description": "One warning (repeated per warning).", "schema": {"type": "string"}}
}

OPERATIONS_DESCRIPTION = f"""One JSON body `{{operation, ...}}` per call. The schema of each operation \
(`components/schemas/op_<operation>`) gives its fields, the statuses it may answer (`x-statuses`) and its \
200 answer (`x-answer`).

Order of the checks, each answering at once:

1. **The body** (400 whatever the credentials, since the operation decides whether any are needed): empty, \
not JSON, not an object, no `operation`, nesting more than {MAX_BODY_DEPTH} levels of arrays and objects, \
or an integer beyond ±2**53 (or a number that would become 0 or infinity) anywhere in it. A body over \
`http.max_body_size` is 413 (text/plain).
2. **The credentials** (401; 429 with Retry-After while Basic credentials of that user are throttled \
from this address): for every operation but `create_authentication_tokens` and `refresh_operation_token`, \
and also for an unknown operation name. No `Authorization` header: `Must login`; wrong Basic credentials: \
`Login failed`; a bad or expired Bearer token, or a refresh token used as one: `invalid token`; an \
inactive user: `Cannot complete request: User is inactive`.
3. **The operation**: an unknown name is 400 `Operation '<name>' not found`, a HarperDB operation this \
gateway does not provide 400 `Operation '<name>' is not supported by this server`.
4. **The role** (403): super_user operations, and the role's table permissions.
5. **The fields** (400 with HarperDB's message, e.g. `'table' is required`), then the state (404 for a \
missing table on reads, 400 on writes, 409 for a duplicate user or role), then the operation itself \
(507 when the device is full, naming the store; nothing of the operation is kept)."""


def _error(description: str, schema: Schema = ERROR, **more: Any) -> Schema:
    return {"description": description, "content": _json(schema), **more}


def operations_endpoint_doc() -> Schema:
    """``POST /``: the operation bodies as a discriminated ``oneOf``."""
    names = sorted(OPERATIONS)
    return {
        "summary": "The Operations API (HarperDB-style).",
        "description": OPERATIONS_DESCRIPTION,
        "tags": ["operations"],
        "security": [{"basicAuth": []}, {"bearerAuth": []}, {}],
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
                "description": "The operation's answer: `components/schemas/answer_<operation>` (see the "
                "operation's `x-answer`); get_backup answers a tar.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/JsonValue"}},
                    "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "400": _error(
                "A bad body (see the order of checks), an unknown or unsupported operation, bad fields, "
                "or a write to a missing table."
            ),
            "401": _error(
                "No or wrong credentials (see the order of checks); create_authentication_tokens: "
                "`invalid credentials`; refresh_operation_token: `invalid token`."
            ),
            "403": _error(
                "The role does not allow it (HarperDB's body with `unauthorized_access` and "
                "`invalid_schema_items`), or the database is `system`.",
                FORBIDDEN,
            ),
            "404": _error("A database, table, role, user, model, API key or batch that does not exist."),
            "409": _error(
                "A duplicate user or role, a role still assigned to users, or no configuration file."
            ),
            "413": {"description": "The body is larger than `http.max_body_size`.", "content": _text()},
            "429": _error(
                "Too many wrong passwords for this user from this address; wait the seconds in Retry-After.",
                headers=RETRY_AFTER,
            ),
            "507": _error(
                "No space left on the device, naming the store (`no space left on the device (records "
                "store)`); nothing of the operation was kept."
            ),
        },
    }


def fields_source(name: str) -> str | None:
    """The operation whose description ``name`` uses: itself, or the operation it is an alias of."""
    if name in DOCS:
        return name
    handler = OPERATIONS[name].handler
    return next((n for n, s in sorted(OPERATIONS.items()) if s.handler is handler and n in DOCS), None)


def undescribed_schema(name: str) -> Schema:
    return {
        "type": "object",
        "title": name,
        "description": "An operation of this gateway (not described yet).",
        "properties": {"operation": {"type": "string", "const": name}},
        "required": ["operation"],
        "x-statuses": [200, 400, 401, 403, 404, 409, 429, 507],
    }


def operation_schemas() -> dict[str, Schema]:
    """``op_<name>`` for every registered operation and ``answer_<name>`` for every described one."""
    schemas: dict[str, Schema] = {}
    for name in sorted(OPERATIONS):
        source = fields_source(name)
        # An operation not described yet (tests/openapi fails until it is) gets a permissive branch:
        # the description never omits one.
        schemas[f"op_{name}"] = operation_schema(name, source) if source else undescribed_schema(name)
    for source in sorted(DOCS):
        schemas[f"answer_{source}"] = answer_schema(source)
    return schemas


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
        "openapi": "3.1.0",
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
            "schemas": {**copy.deepcopy(SHARED), **operation_schemas()},
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
