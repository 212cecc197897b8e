"""The operations of ``POST /`` as JSON Schema, for the OpenAPI description: as strict as the server.

One :class:`OperationDoc` per operation (``DOCS``; an alias such as ``create_schema``
shares its operation's): its fields with their types, lengths, patterns and enums, which
are required, the statuses it can answer and the shape of its 200 answer. The schemas
say what the handlers (``gateway/operations/*.py``) and the checks they share
(``gateway/fields.py``, ``gateway/query/conditions.py``, ``gateway/http/body_limits.py``)
accept, no more and no less, except where JSON Schema cannot say it (each such rule is
written in the schema's ``description``):

- **state**: a table, attribute, role, user, model, batch or job that must exist (or must
  not): 400/404/409 as each operation's statuses say;
- **cross-field rules** that are not about presence: ``primary_key`` against the attribute
  marked ``isPrimaryKey``, a SQL statement's grammar, a model's or a control file's
  references between its parts;
- **whole-body limits**: at most 128 levels of arrays and objects (the body is level 1).

Every object admits fields it does not name (the server ignores them, except
``set_configuration``, which refuses unknown keys) whose values are any JSON value the
server keeps exactly: integers within ±2**53 (:mod:`gateway.storage.numbers`).
HarperDB's deprecated field names (``schema``, ``hash_values``, ``search_attribute``,
``search_value``) stand in for the current ones (``gateway.fields.FIELD_ALIASES``): the
current name wins when both are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gateway.auth.api_keys import DEFAULT_PATH
from gateway.config import default_config, leaves
from gateway.fields import FIELD_ALIASES
from gateway.http.body_limits import MAX_BODY_DEPTH
from gateway.imports.service import STATES
from gateway.metrics import catalog as metrics_catalog
from gateway.operations.analytics import MAX_SECONDS
from gateway.query.conditions import COMPARATORS, MAX_CONDITIONS, MAX_DEPTH
from gateway.query.matching import MAX_SORT_DEPTH
from gateway.restart import SERVICES
from gateway.status import AVAILABILITY, AVAILABILITY_VALUES, MAX_STATUS_LENGTH, STATUS_IDS
from gateway.storage.harper_types import HARPER_TYPES, canonical_type
from gateway.storage.names import MAX_NAME_LENGTH
from gateway.storage.numbers import MAX_EXACT_INTEGER

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to ``components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (the server takes null as "not given")."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    kinds = out["type"] if isinstance(out["type"], list) else [out["type"]]
    out["type"] = [*kinds, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def case_insensitive(*words: str) -> str:
    """A pattern matching any of ``words`` in any letter case (ECMA regexes have no flags)."""
    alternatives = ["".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w) for w in words]
    return "^(" + "|".join(alternatives) + ")$"


def integer(minimum: int = 0, maximum: int = MAX_EXACT_INTEGER) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


NOT_CONTROL: Final = "\\u0000-\\u001f\\u007f-\\u009f"
"""Unicode's control characters (category Cc) as a regex range (:mod:`gateway.storage.names`)."""
NAME_PATTERN: Final = f"^[^/`{NOT_CONTROL}]*$"
# Python's str.isspace() characters: a name of these alone is blank (create_api_key).
_SPACES: Final = (
    "\\t-\\r \\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
ISO_DATE_TEXT: Final = (
    "An ISO 8601 date or date-time: `2021-01-25`, `2021-01-25T23:05:27.123Z`, `2021-01-25T23:05+01:00` "
    "(a space may stand for `T`; zones `Z`, `+hh`, `+hhmm`, `+hh:mm` below 24 hours; no zone is UTC). "
    "RFC 3339 dates and date-times are always accepted."
)
EPOCH_MS_MIN: Final = -62135596800000  # 0001-01-01T00:00:00Z
EPOCH_MS_END: Final = 253402300800000  # 10000-01-01T00:00:00Z, the first instant beyond
BATCH_ID: Final = "^[A-Za-z0-9][A-Za-z0-9_-]{42}[A-Za-z0-9]$"
DIGEST: Final = "^[0-9a-f]{64}$"

# -- shared schemas (components/schemas) -------------------------------------------------

NUMBER: Schema = {
    "type": "number",
    "minimum": -MAX_EXACT_INTEGER,
    "maximum": MAX_EXACT_INTEGER,
    "description": "A number the store keeps exactly: integers from -2**53 to 2**53 (an integer literal "
    "beyond is refused with 400, wherever it stands in the body; send it as a string).",
}
SHARED: dict[str, Schema] = {
    "JsonValue": {
        "description": "Any JSON value the store keeps exactly (see Number). The whole body nests at most "
        f"{MAX_BODY_DEPTH} levels of arrays and objects (the body is level 1).",
        "anyOf": [{"type": "null"}, ref("PresentValue")],
    },
    "PresentValue": {
        "description": "Any JSON value but null, numbers as in Number.",
        "anyOf": [
            {"type": "boolean"},
            {"type": "string"},
            ref("Number"),
            {"type": "array", "items": ref("JsonValue")},
            {"type": "object", "additionalProperties": ref("JsonValue")},
        ],
    },
    "Scalar": {
        "description": "A string, number (see Number), boolean or null.",
        "anyOf": [{"type": ["string", "boolean", "null"]}, ref("Number")],
    },
    "Number": NUMBER,
    "Name": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_LENGTH,
        "pattern": NAME_PATTERN,
        "description": f"A database, table or attribute name: 1 to {MAX_NAME_LENGTH} characters, without "
        "`/`, backtick or control characters (400 otherwise).",
    },
    "DatabaseName": {
        "$ref": "#/components/schemas/Name",
        "description": "A database (default `data`). `system`, the gateway's own tables, is refused with 403.",
    },
    "Record": {
        "type": "object",
        "propertyNames": {"pattern": f"^[^{NOT_CONTROL}]*$"},
        "additionalProperties": ref("JsonValue"),
        "description": "A record. Attribute names have no control characters. The table's primary key, "
        "when given and not null or empty, is a string or a number (a UUID string is generated for an "
        "insert or upsert without one; an update needs it). A table created with `attributes` checks the "
        "types it declares.",
    },
    "AttributeNames": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "minLength": 1},
        "description": "Attributes to answer; `*` for all. A name the table does not have is 400 "
        "`unknown attribute '<name>'`.",
    },
    "Condition": {
        "description": "One comparison. `search_attribute` (alias `attribute`) names an attribute of the table "
        "(400 `unknown attribute` otherwise); `search_type` (alias `comparator`, default `equals`) the "
        "comparator; `search_value` (alias `value`, required) the value: a pair of non-null scalars for "
        "`between`, a string or number for `contains`/`starts_with`/`ends_with`, a scalar for the others "
        "(null only for `equals`/`not_equal`). The HarperDB name wins when both are given.",
        "type": "object",
        "properties": {
            "search_attribute": {"type": "string", "minLength": 1},
            "attribute": ref("JsonValue"),
            "search_type": {"type": "string", "enum": list(COMPARATORS)},
            "comparator": ref("JsonValue"),
            "search_value": ref("JsonValue"),
            "value": ref("JsonValue"),
            "conditions": False,
        },
        "allOf": [
            {
                "anyOf": [
                    {"required": ["search_attribute"]},
                    {
                        "required": ["attribute"],
                        "properties": {
                            "search_attribute": False,
                            "attribute": {"type": "string", "minLength": 1},
                        },
                    },
                ]
            },
            {"anyOf": [ref(f"Condition_{kind}") for kind in ("between", "text", "equality", "range")]},
        ],
        "additionalProperties": ref("JsonValue"),
    },
    "ConditionGroup": {
        "type": "object",
        "description": f"Nested conditions joined by `operator`; groups nest at most {MAX_DEPTH} levels and "
        f"a search has at most {MAX_CONDITIONS} conditions in all.",
        "properties": {"operator": ref("Operator"), "conditions": ref("Conditions")},
        "required": ["conditions"],
        "additionalProperties": ref("JsonValue"),
    },
    "Conditions": {
        "type": "array",
        "maxItems": MAX_CONDITIONS,
        "items": {"anyOf": [ref("Condition"), ref("ConditionGroup")]},
    },
    "Operator": {
        "anyOf": [{"type": "string", "pattern": case_insensitive("and", "or")}, {"type": "null"}],
        "description": "`and` (default) or `or`, in any letter case.",
    },
    "Sort": {
        "type": "object",
        "description": f"Sort by `attribute` (of the table: 400 `unknown attribute` otherwise), then by `next`; "
        f"at most {MAX_SORT_DEPTH} levels.",
        "properties": {
            "attribute": {"type": "string", "minLength": 1},
            "descending": {"type": "boolean"},
            "next": nullable(ref("Sort")),
        },
        "required": ["attribute"],
        "additionalProperties": ref("JsonValue"),
    },
    "IsoDate": {
        "type": "string",
        "anyOf": [{"format": "date"}, {"format": "date-time"}],
        "description": ISO_DATE_TEXT,
    },
    "LogTime": {
        "anyOf": [
            {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]},
            {"type": "number", "minimum": EPOCH_MS_MIN, "exclusiveMaximum": EPOCH_MS_END},
            {"type": "null"},
        ],
        "description": "An ISO 8601 date or date-time (no zone: UTC), or epoch milliseconds, within years "
        "1 to 9999.",
    },
    "Permission": {
        "type": "object",
        "description": "A role's permissions: `super_user`, `cluster_user` (booleans), `structure_user` (a boolean "
        "or an array), and per database `{tables: {<table>: {read, insert, update, delete, attribute_permissions}}}`.",
        "properties": {
            "super_user": {"type": "boolean"},
            "cluster_user": {"type": "boolean"},
            "structure_user": {"type": ["boolean", "array"], "items": ref("JsonValue")},
        },
        "additionalProperties": ref("DatabasePermission"),
    },
    "DatabasePermission": {
        "type": "object",
        "properties": {"tables": {"type": "object", "additionalProperties": ref("TablePermission")}},
        "required": ["tables"],
        "additionalProperties": ref("JsonValue"),
    },
    "TablePermission": {
        "type": "object",
        "properties": {
            "read": {"type": "boolean"},
            "insert": {"type": "boolean"},
            "update": {"type": "boolean"},
            "delete": {"type": "boolean"},
            "attribute_permissions": {"type": "array", "items": ref("JsonValue")},
        },
        "additionalProperties": ref("JsonValue"),
    },
    "S3": {
        "type": "object",
        "description": "An S3 object (or one on the S3-compatible server at `endpoint_url`, which passes the "
        "same address checks as csv_url_load).",
        "properties": {
            "aws_access_key_id": {"type": "string", "minLength": 1},
            "aws_secret_access_key": {"type": "string", "minLength": 1},
            "bucket": {"type": "string", "minLength": 1},
            "key": {"type": "string", "minLength": 1},
            "region": {"type": "string", "minLength": 1},
            "endpoint_url": nullable({"type": "string", "minLength": 1, "format": "uri"}),
        },
        "required": ["aws_access_key_id", "aws_secret_access_key", "bucket", "key", "region"],
        "additionalProperties": ref("JsonValue"),
    },
    "ImportModel": {
        "type": "object",
        "description": "An import model: its database, destinations and Names. Besides these shapes, the server checks the "
        "references between its parts (linkName, depends, lookupNames, defaultType, custom types) and "
        "answers 400 listing every problem.",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "title": nullable({"type": "string"}),
            "description": nullable({"type": "string"}),
            "database": nullable({"type": "string", "minLength": 1, "pattern": f"^[^{NOT_CONTROL}]*$"}),
            "types": nullable({"type": "array", "items": {"type": "string", "minLength": 1}}),
            "qualifiers": nullable({"type": "array", "items": {"type": "string", "minLength": 1}}),
            "destinations": {"type": "array", "minItems": 1, "items": ref("ImportDestination")},
        },
        "required": ["name", "destinations"],
        "additionalProperties": ref("JsonValue"),
    },
    "ImportDestination": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "kind": {"type": "string", "enum": ["object", "dictionary"]},
            "pseudo": nullable({"type": "boolean"}),
            "table": {"type": "string", "minLength": 1},
            "primaryKey": {"type": "string", "minLength": 1},
            "typeName": {"type": "string", "minLength": 1},
            "names": {"type": "object", "additionalProperties": ref("ImportName")},
        },
        "required": ["name"],
        "additionalProperties": ref("JsonValue"),
    },
    "ImportName": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "minLength": 1},
            "multivalue": nullable({"type": "boolean"}),
            "required": nullable({"type": "boolean"}),
            "description": nullable({"type": "string"}),
            "refTypes": nullable({"type": "array", "items": {"type": "string", "minLength": 1}}),
        },
        "additionalProperties": ref("JsonValue"),
    },
    "SearchOperation": {
        "description": "The search an export runs: the body of search_by_value, search_by_hash/search_by_id, "
        "search_by_conditions, or sql with a SELECT. HarperDB checks it in the job: a request with a bad one "
        "still starts the job (200), which ends in ERROR naming the problem.",
        "oneOf": [
            ref(f"op_{name}")
            for name in ("search_by_value", "search_by_hash", "search_by_id", "search_by_conditions", "sql")
        ],
        "discriminator": {"propertyName": "operation"},
    },
}


def _condition_kind(comparators: list[str], value: Schema, absent_means_this: bool) -> Schema:
    """A condition whose effective comparator (search_type, else comparator) is one of ``comparators``
    and whose effective value (search_value, else value) matches ``value``."""
    comparator = {"type": "string", "enum": comparators}
    by_comparator: list[Schema] = [
        {"required": ["search_type"], "properties": {"search_type": comparator}},
        {"required": ["comparator"], "properties": {"search_type": False, "comparator": comparator}},
    ]
    if absent_means_this:
        by_comparator.append({"properties": {"search_type": False, "comparator": False}})
    by_value: list[Schema] = [
        {"required": ["search_value"], "properties": {"search_value": value}},
        {"required": ["value"], "properties": {"search_value": False, "value": value}},
    ]
    return {"allOf": [{"anyOf": by_comparator}, {"anyOf": by_value}]}


def _comparators(*canonical: str) -> list[str]:
    return [name for name, target in COMPARATORS.items() if target in canonical]


_RANGE_BOUND: Schema = {"anyOf": [{"type": ["string", "boolean"]}, ref("Number")]}
SHARED |= {
    "Condition_between": _condition_kind(
        _comparators("between"),
        {"type": "array", "prefixItems": [_RANGE_BOUND, _RANGE_BOUND], "minItems": 2, "maxItems": 2},
        False,
    ),
    "Condition_text": _condition_kind(
        _comparators("contains", "starts_with", "ends_with"),
        {"anyOf": [{"type": "string"}, ref("Number")]},
        False,
    ),
    "Condition_equality": _condition_kind(_comparators("equals", "not_equal"), ref("Scalar"), True),
    "Condition_range": _condition_kind(
        _comparators("greater_than", "greater_than_equal", "less_than", "less_than_equal"),
        _RANGE_BOUND,
        False,
    ),
}


# -- request fields -----------------------------------------------------------------------


def alias_of(current: str) -> str | None:
    """HarperDB's deprecated name of a field, if it has one."""
    return next((old for old, new in FIELD_ALIASES.items() if new == current), None)


STRING: Schema = {"type": "string"}
TEXT: Schema = {"type": "string", "minLength": 1}
DATABASE: Schema = nullable(ref("DatabaseName"))
TABLE: Schema = ref("Name")
PAGING: dict[str, Schema] = {"offset": nullable(integer()), "limit": nullable(integer())}
ACTION: Schema = {
    "type": ["string", "null"],
    "enum": ["insert", "update", "upsert", None],
    "description": "How each row is written (default insert).",
}
EXPORT_FORMAT: Schema = {
    "type": "string",
    "enum": ["json", "csv"],
    "description": "HarperDB checks it in the job: another value still starts the job (200), which ends in "
    "ERROR `format invalid. must be one of the following values: json, csv`.",
}


def _table(**extra: Schema) -> dict[str, Schema]:
    return {"database": DATABASE, "table": TABLE, **extra}


def _attribute_types() -> str:
    names = [*HARPER_TYPES, *(n for n in ("integer", "double", "bool", "text") if canonical_type(n))]
    return case_insensitive(*names)


CREATE_TABLE_ATTRIBUTE: Schema = {
    "type": "object",
    "description": "An attribute of a schema-defined table: `name` (alias `attribute`), `type` (any letter "
    "case), `indexed`, `isPrimaryKey` (alias `is_primary_key`; at most one). Names are unique.",
    "properties": {
        "name": ref("Name"),
        "attribute": ref("JsonValue"),
        "type": nullable({"type": "string", "pattern": _attribute_types()}),
        "indexed": {"type": "boolean"},
        "isPrimaryKey": {"type": "boolean"},
        "is_primary_key": ref("JsonValue"),
    },
    "allOf": [
        {
            "anyOf": [
                {"required": ["name"]},
                {"required": ["attribute"], "properties": {"name": False, "attribute": ref("Name")}},
            ]
        },
        {"anyOf": [{"required": ["isPrimaryKey"]}, {"properties": {"is_primary_key": {"type": "boolean"}}}]},
    ],
    "additionalProperties": ref("JsonValue"),
}
_MARKS_PRIMARY_KEY: Schema = {
    "required": ["attributes"],
    "properties": {
        "attributes": {
            "type": "array",
            "contains": {
                "anyOf": [
                    {"required": ["isPrimaryKey"], "properties": {"isPrimaryKey": {"const": True}}},
                    {
                        "required": ["is_primary_key"],
                        "properties": {"isPrimaryKey": False, "is_primary_key": {"const": True}},
                    },
                ]
            },
        }
    },
}
_PRIMARY_KEY_GIVEN: Schema = {
    "anyOf": [
        {"required": ["primary_key"]},
        {"required": ["hash_attribute"], "properties": {"primary_key": False, "hash_attribute": ref("Name")}},
        {"properties": {"primary_key": False, "hash_attribute": False}, **_MARKS_PRIMARY_KEY},
    ]
}
_CONFIG_DEFAULTS = dict(leaves(default_config()))


def _config_value(default: Any) -> Schema:
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return integer(-MAX_EXACT_INTEGER)
    if isinstance(default, list):
        return {"type": "array", "items": STRING}
    return STRING


def _config_tree(tree: dict[str, Any]) -> Schema:
    properties = {
        key: _config_tree(value) if isinstance(value, dict) else _config_value(value)
        for key, value in tree.items()
    }
    return {"type": "object", "properties": properties, "minProperties": 1, "additionalProperties": False}


def _configuration_fields() -> dict[str, Schema]:
    """Every key of the configuration: nested (``{"http": {"port": 1}}``), dotted and flattened."""
    fields: dict[str, Schema] = {}
    for key, value in default_config().items():
        fields[key] = _config_tree(value) if isinstance(value, dict) else _config_value(value)
    for path, default in _CONFIG_DEFAULTS.items():
        fields.setdefault(".".join(path), _config_value(default))
        fields.setdefault("_".join(path), _config_value(default))
    return fields


# -- answers (the 200 bodies) ----------------------------------------------------------------


def _object(required: dict[str, Schema], **optional: Schema) -> Schema:
    return {
        "type": "object",
        "properties": {**required, **optional},
        "required": list(required),
        "additionalProperties": ref("JsonValue"),
    }


ARRAY: Schema = {"type": "array", "items": ref("JsonValue")}
MESSAGE: Schema = _object({"message": STRING})
STATUS_ENTRY: Schema = _object(
    {
        "id": STRING,
        "status": STRING,
        "__createdtime__": {"type": "integer"},
        "__updatedtime__": {"type": "integer"},
    }
)
RECORDS: Schema = {"type": "array", "items": {"type": "object", "additionalProperties": ref("JsonValue")}}
JOB_STARTED: Schema = _object(
    {"message": {"type": "string", "pattern": "^Starting job with id "}, "job_id": STRING}
)
TABLE_ANSWER: Schema = _object(
    {
        "schema": STRING,
        "name": STRING,
        "hash_attribute": STRING,
        "schema_defined": {"type": "boolean"},
        "attributes": {"type": "array", "items": _object({"attribute": STRING})},
        "record_count": {"type": "integer", "minimum": 0},
    }
)
JOB: Schema = _object({"id": STRING, "status": STRING, "type": STRING})
ROLE: Schema = _object({"role": STRING, "id": STRING, "permission": {"type": "object"}})
COUNT: Schema = {"type": "integer", "minimum": 0}
CHANGE_ROW: Schema = _object(
    {
        "table": STRING,
        "destinations": {"type": "array", "items": STRING},
        "new": COUNT,
        "updated": COUNT,
        "unchanged": COUNT,
    },
    sample={
        "type": "array",
        "maxItems": 20,
        "description": "Dry run: the first updated records, with the Names that would change "
        "(`from`/`to`; null: no value; long values cut and marked `…`).",
        "items": _object(
            {"key": ref("JsonValue"), "changes": {"type": "array", "items": _object({"name": STRING})}}
        ),
    },
    sample_complete={
        "type": "boolean",
        "description": "False when more records would be updated than sampled.",
    },
)
SUMMARY: Schema = {
    "type": ["object", "null"],
    "description": "What the run did (null before it ran; partial, `finished` null, while it runs): records read, "
    "committed, failed (not committed), skipped (dry run: complete records, not written), errors, per table the "
    "records that were (dry run: would be) new, updated and unchanged, start, finish, duration, percent of the "
    "input read (100 only for a finished run) and, for an interrupted run, how far it got and whether re-running "
    "it as a copy is safe.",
    "properties": {
        "dry_run": {"type": "boolean"},
        "started": STRING,
        "finished": {"type": ["string", "null"]},
        "duration_seconds": {"type": ["number", "null"]},
        "records_read": COUNT,
        "records_committed": COUNT,
        "records_failed": COUNT,
        "records_skipped": COUNT,
        "errors": COUNT,
        "percent": {"type": "number", "minimum": 0, "maximum": 100},
        "destinations": {"type": "array", "items": CHANGE_ROW},
        "interrupted": {
            "type": ["object", "null"],
            "properties": {
                "reason": STRING,
                "records_read": COUNT,
                "records_committed": COUNT,
                "rerun_safe": {"type": "boolean"},
                "rerun": STRING,
            },
        },
    },
}
BATCH: Schema = _object(
    {"identifier": STRING, "state": {"type": "string", "enum": list(STATES)}}, summary=SUMMARY
)
WRITE_ANSWERS: Schema = {
    "oneOf": [
        _object({"message": STRING, "inserted_hashes": ARRAY, "skipped_hashes": ARRAY}),
        _object({"message": STRING, "update_hashes": ARRAY, "skipped_hashes": ARRAY}),
        _object({"message": STRING, "deleted_hashes": ARRAY, "skipped_hashes": ARRAY}),
    ]
}
PUSH_API: Schema = _object(
    {
        "url": STRING,
        "path": STRING,
        "description": STRING,
        "enabled": {"type": "boolean"},
        "response": {"type": "string", "enum": ["JSON", "XML"]},
        "control": {"type": "object"},
        "key_id": STRING,
    },
    key={"type": "string", "description": "The API key, shown only when it is made."},
)
BINARY: Schema = {"type": "string", "format": "binary"}


# -- the table of operations -----------------------------------------------------------------


@dataclass(frozen=True)
class OperationDoc:
    """One operation's request body, answers and summary.

    ``statuses``: what it may answer besides 200, 400 (body and fields) and 401 (credentials)
    and 429 (a throttled password), which every operation may. ``any_of``: alternatives
    of required fields (``ids`` or its alias ``hash_values``). ``closed``: unknown fields
    are refused.
    """

    summary: str
    properties: dict[str, Schema] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()
    answer: Schema = field(default_factory=dict)
    any_of: tuple[Schema, ...] = ()
    media: str = "application/json"
    closed: bool = False
    description: str = ""


def _doc(
    summary: str, fields: dict[str, Schema], required: str, statuses: str, answer: Schema, **more: Any
) -> OperationDoc:
    return OperationDoc(
        summary,
        fields,
        tuple(required.split()),
        tuple(int(s) for s in statuses.split()),
        answer,
        **more,
    )


_IDS: dict[str, Schema] = {
    "ids": {"type": "array", "items": ref("JsonValue"), "description": "Primary keys (alias hash_values)."}
}
_SEARCH_BY_VALUE: dict[str, Schema] = {
    "attribute": {
        "type": "string",
        "minLength": 1,
        "description": "An attribute of the table (alias search_attribute); 400 `unknown attribute` otherwise.",
    },
    "value": {
        "$ref": "#/components/schemas/Scalar",
        "description": "The value (alias search_value): `*` any, `Pe*`, `*er`, `P*y` wildcards in a string; "
        'others match equal values (typed: 5 is not "5").',
    },
    "get_attributes": ref("AttributeNames"),
    **PAGING,
}
_SEARCH_BY_CONDITIONS: dict[str, Schema] = {
    "operator": ref("Operator"),
    "conditions": ref("Conditions"),
    "sort": nullable(ref("Sort")),
    "get_attributes": ref("AttributeNames"),
    **PAGING,
}
_LOAD = "403 507"
_NOT_REPLICATED: Schema = nullable(
    {
        "type": "boolean",
        "enum": [False, None],
        "description": "HarperDB's restart of every node: `true` is 400 (restart each gateway with its own request).",
    }
)
_RESTART = (
    "Super users. The answer is sent first; then the server stops as on SIGTERM (no new connections, "
    "running batches and jobs stop at their next record boundary and save their state: a batch stopped "
    "mid-run ends `error`, `Batch stopped: server shutting down`; scheduled ones wait for the restarted "
    "server), the store is closed, and `gateway serve` starts again with the same arguments and "
    "environment, in the same process (same pid). Data, tokens, API keys and admin sessions stay valid; "
    "status values (`set_status`) do not. 409 when the process was not started by `gateway serve`."
)
_SECONDS: Schema = {
    "type": "number",
    "minimum": 0,
    "maximum": MAX_SECONDS,
    "description": "Unix time in seconds.",
}
_USER_NAME: Schema = {"type": "string", "minLength": 1, "pattern": "^[^:]*$", "description": "No `:`."}
_ROLE_NAME: Schema = {"type": "string", "minLength": 1}
_PUSH_URL: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": "^[a-z0-9-]+$",
    "description": "The API's name in its path `/api/push-data/<url>`: a-z, 0-9 and `-`.",
}
_PUSH_DESCRIPTION: Schema = nullable({"type": "string", "description": "Shown in lists; names the key."})
_PUSH_CONTROL: Schema = {
    "$ref": "#/components/schemas/JsonValue",
    "description": "The control file: an object, or JSON text (it wins over control_digest). It reads one "
    "file, `body` (use `DEFAULT`, usually with `singleRecord: true`).",
}
_PUSH_DIGEST: Schema = nullable(
    {
        "type": "string",
        "pattern": DIGEST,
        "description": "The digest of an uploaded control file (404-free: 400 if unknown).",
    }
)
_PUSH_ENABLED: Schema = nullable({"type": "boolean", "description": "Default true."})
_PUSH_RESPONSE: Schema = nullable(
    {
        "type": "string",
        "pattern": case_insensitive("JSON", "XML"),
        "description": "The answer's format; default JSON.",
    }
)
_PUSH_FIELDS: dict[str, Schema] = {
    "url": _PUSH_URL,
    "description": _PUSH_DESCRIPTION,
    "control": _PUSH_CONTROL,
    "control_digest": _PUSH_DIGEST,
    "enabled": _PUSH_ENABLED,
    "response": _PUSH_RESPONSE,
}
_API_KEY_NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "pattern": f"[^{_SPACES}]",
    "description": "Not blank.",
}
_EXPIRES: Schema = {
    "anyOf": [
        {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}, {"maxLength": 0}]},
        {"type": "number", "minimum": EPOCH_MS_MIN, "exclusiveMaximum": EPOCH_MS_END},
        {"type": "null"},
    ],
    "description": "When the key stops working: an ISO 8601 date or date-time (no zone: UTC) or epoch "
    "milliseconds, within years 1 to 9999; none (null or empty) for never.",
}

DOCS: dict[str, OperationDoc] = {
    # databases and tables
    "describe_all": _doc(
        "Every database with its tables.",
        {},
        "",
        "",
        {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": TABLE_ANSWER}},
    ),
    "describe_database": _doc(
        "One database's tables.",
        {"database": DATABASE},
        "",
        "403 404",
        {"type": "object", "additionalProperties": TABLE_ANSWER},
    ),
    "describe_table": _doc(
        "One table: primary key, attributes, exact record count.", _table(), "table", "403 404", TABLE_ANSWER
    ),
    "create_database": _doc(
        "Create a database (400 if it exists).", {"database": DATABASE}, "", "403 507", MESSAGE
    ),
    "drop_database": _doc(
        "Drop a database (default `data`) and its tables.", {"database": DATABASE}, "", "403 404 507", MESSAGE
    ),
    "create_table": _doc(
        "Create a table (and its database); `attributes` makes it schema-defined.",
        _table(
            primary_key=ref("Name"),
            hash_attribute={
                "$ref": "#/components/schemas/JsonValue",
                "description": "HarperDB's older name of primary_key (a Name; ignored when primary_key is given).",
            },
            attributes=nullable({"type": "array", "items": CREATE_TABLE_ATTRIBUTE}),
            expiration=nullable(
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_EXACT_INTEGER,
                    "description": "Seconds.",
                }
            ),
        ),
        "table",
        "403 507",
        MESSAGE,
        any_of=(_PRIMARY_KEY_GIVEN,),
        description="The primary key is `primary_key`, else `hash_attribute`, else the attribute marked "
        "`isPrimaryKey` (which must then agree with it).",
    ),
    "drop_table": _doc("Drop a table.", _table(), "table", "403 404 507", MESSAGE),
    "create_attribute": _doc(
        "Add an attribute to a table (400 if it exists).",
        _table(attribute=ref("Name"), indexed=nullable({"type": "boolean"})),
        "table attribute",
        "403 404 507",
        MESSAGE,
    ),
    "drop_attribute": _doc(
        "Remove an attribute (not the primary key); 200 also for one the table does not have.",
        _table(attribute=ref("Name")),
        "table attribute",
        "403 404 507",
        MESSAGE,
    ),
    "get_backup": _doc(
        "A tar of a RocksDB store holding only this database.",
        {"database": DATABASE},
        "",
        "403 404 507",
        BINARY,
        media="application/x-tar",
    ),
    # records
    "insert": _doc(
        "Insert records (a duplicate key is skipped); one bad record writes nothing.",
        _table(records={"type": "array", "items": ref("Record")}),
        "table records",
        "403 507",
        _object({"message": STRING, "inserted_hashes": ARRAY, "skipped_hashes": ARRAY}),
        description="The table must exist (400).",
    ),
    "update": _doc(
        "Update records by primary key (a missing one is skipped).",
        _table(records={"type": "array", "items": ref("Record")}),
        "table records",
        "403 507",
        _object({"message": STRING, "update_hashes": ARRAY, "skipped_hashes": ARRAY}),
        description="The table must exist (400); every record carries its primary key (400).",
    ),
    "upsert": _doc(
        "Insert or update records.",
        _table(records={"type": "array", "items": ref("Record")}),
        "table records",
        "403 507",
        _object({"message": STRING, "upserted_hashes": ARRAY}),
        description="The table must exist (400).",
    ),
    "delete": _doc(
        "Delete records by primary key; unknown keys are skipped.",
        _table(**_IDS),
        "table ids",
        "403 507",
        _object({"message": STRING, "deleted_hashes": ARRAY, "skipped_hashes": ARRAY}),
        description="The table must exist (400).",
    ),
    "search_by_id": _doc(
        "Records by primary key; unknown keys are left out.",
        _table(**_IDS, get_attributes=ref("AttributeNames")),
        "table ids get_attributes",
        "403 404",
        RECORDS,
    ),
    "search_by_value": _doc(
        "Records whose attribute matches a value (wildcards `*`).",
        _table(**_SEARCH_BY_VALUE),
        "table attribute value get_attributes",
        "403 404",
        RECORDS,
    ),
    "search_by_conditions": _doc(
        "Records matching conditions, sorted and paged.",
        _table(**_SEARCH_BY_CONDITIONS),
        "table conditions get_attributes",
        "403 404",
        RECORDS,
    ),
    "sql": _doc(
        "One SELECT, INSERT, UPDATE or DELETE on one `database.table`.",
        {
            "sql": {
                "type": "string",
                "minLength": 1,
                "description": "MySQL dialect; 400 for invalid or unsupported SQL.",
            }
        },
        "sql",
        "403 404 507",
        {"oneOf": [RECORDS, WRITE_ANSWERS]},
    ),
    # bulk loads, exports, jobs
    "csv_data_load": _doc(
        "Load the CSV text in `data` (a job).",
        _table(action=ACTION, data=STRING),
        "table data",
        _LOAD,
        JOB_STARTED,
        description="The table must exist (400).",
    ),
    "csv_file_load": _doc(
        "Load a CSV file from an import directory (a job).",
        _table(
            action=ACTION,
            file_path={
                "type": "string",
                "pattern": "^/",
                "description": "An absolute path of a readable file inside `<root>/import` or "
                "`bulk.import_directories` (400 otherwise).",
            },
        ),
        "table file_path",
        _LOAD,
        JOB_STARTED,
        description="The table must exist (400).",
    ),
    "csv_url_load": _doc(
        "Load CSV from an http(s) URL (a job).",
        _table(
            action=ACTION,
            csv_url={
                "type": "string",
                "format": "uri",
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                "description": "Private, loopback, link-local, shared, reserved and multicast addresses are "
                "refused (400) unless `bulk.url_allow_private`.",
            },
        ),
        "table csv_url",
        _LOAD,
        JOB_STARTED,
        description="The table must exist (400).",
    ),
    "import_from_s3": _doc(
        "Load a `.csv` or `.json` object from S3 (a job).",
        _table(
            action=ACTION,
            s3={"$ref": "#/components/schemas/S3", "properties": {"key": {"pattern": "\\.(csv|json)$"}}},
        ),
        "table s3",
        _LOAD,
        JOB_STARTED,
        description="The table must exist (400).",
    ),
    "export_local": _doc(
        "Export a search's results to `<path>/<filename or epoch ms>.<format>` (a job).",
        {
            "path": {
                "type": "string",
                "pattern": "^/",
                "description": "An absolute directory inside `<root>/export` or `bulk.export_directories` "
                "(400 otherwise); a missing directory ends the job in ERROR.",
            },
            "filename": nullable(
                {
                    "type": "string",
                    "minLength": 1,
                    "pattern": "^(?!\\.\\.?$)[^/\\\\\\u0000]+$",
                    "description": "A plain file name (no `/`, `\\`, NUL; not `.` or `..`).",
                }
            ),
            "format": EXPORT_FORMAT,
            "search_operation": ref("SearchOperation"),
        },
        "path format search_operation",
        "403 507",
        JOB_STARTED,
    ),
    "export_to_s3": _doc(
        "Export a search's results to S3 as `<s3.key>.<format>` (a job).",
        {"format": EXPORT_FORMAT, "s3": ref("S3"), "search_operation": ref("SearchOperation")},
        "format s3 search_operation",
        "403 507",
        JOB_STARTED,
    ),
    "delete_records_before": _doc(
        "Delete the records created before a date (a job).",
        _table(date=ref("IsoDate")),
        "table date",
        "403 507",
        JOB_STARTED,
        description="The table must exist and record `__createdtime__` (400).",
    ),
    "get_job": _doc(
        "One job with its progress: `[job]`, or `[]` for an unknown id.",
        {"id": {"$ref": "#/components/schemas/PresentValue", "description": "The job id (a UUID string)."}},
        "id",
        "",
        {"type": "array", "maxItems": 1, "items": JOB},
    ),
    "search_jobs_by_start_date": _doc(
        "Jobs started strictly between two dates.",
        {"from_date": ref("IsoDate"), "to_date": ref("IsoDate")},
        "from_date to_date",
        "",
        {"type": "array", "items": JOB},
    ),
    # users and roles
    "list_roles": _doc("Every role.", {}, "", "403", {"type": "array", "items": ROLE}),
    "add_role": _doc(
        "Add a role (its id is `id`, else its name).",
        {"role": _ROLE_NAME, "id": nullable(STRING), "permission": ref("Permission")},
        "role permission",
        "403 409 507",
        ROLE,
    ),
    "alter_role": _doc(
        "Change a role's name or permissions.",
        {"id": TEXT, "role": nullable(_ROLE_NAME), "permission": nullable(ref("Permission"))},
        "id",
        "403 404 409 507",
        ROLE,
        description="The last active super user's role keeps super_user (400).",
    ),
    "drop_role": _doc(
        "Drop a role no user has (409 otherwise).", {"id": TEXT}, "id", "403 404 409 507", MESSAGE
    ),
    "list_users": _doc(
        "Every user (no password).", {}, "", "403", {"type": "array", "items": _object({"username": STRING})}
    ),
    "user_info": _doc(
        "The calling user.",
        {},
        "",
        "",
        _object({"username": STRING, "active": {"type": "boolean"}, "role": {"type": "object"}}),
    ),
    "add_user": _doc(
        "Add a user with a role (by id or name).",
        {"username": _USER_NAME, "password": TEXT, "role": TEXT, "active": nullable({"type": "boolean"})},
        "username password role",
        "403 404 409 507",
        MESSAGE,
    ),
    "alter_user": _doc(
        "Change a user's password, role or active flag; an unknown user is skipped.",
        {
            "username": _USER_NAME,
            "password": nullable(TEXT),
            "role": nullable(TEXT),
            "active": nullable({"type": "boolean"}),
        },
        "username",
        "403 404 507",
        _object({"message": STRING, "update_hashes": ARRAY, "skipped_hashes": ARRAY}),
        description="The last active super user stays active and super (400).",
    ),
    "drop_user": _doc(
        "Drop a user (not the last active super user: 400).",
        {"username": _USER_NAME},
        "username",
        "403 404 507",
        MESSAGE,
    ),
    "create_authentication_tokens": _doc(
        "An operation token (1 day) and a refresh token (30 days); needs no credentials.",
        {"username": TEXT, "password": STRING},
        "username password",
        "",
        _object({"operation_token": STRING, "refresh_token": STRING}),
        description="401 `invalid credentials` for a wrong user name or password; 429 while that user is "
        "throttled from this address.",
    ),
    "refresh_operation_token": _doc(
        "A new operation token from a refresh token.",
        {
            "refresh_token": {
                "type": "string",
                "description": "Required unless the refresh token is the Bearer credential.",
            }
        },
        "",
        "",
        _object({"operation_token": STRING}),
        description="Send the refresh token as `Authorization: Bearer <refresh_token>`, or authenticate "
        "(Basic or an operation token) and send it as `refresh_token`; 401 `invalid token` otherwise.",
    ),
    # system
    "read_log": _doc(
        "Entries of the gateway's log.",
        {
            "limit": nullable(integer()),
            "start": nullable(integer()),
            "level": nullable(STRING),
            "from": ref("LogTime"),
            "until": ref("LogTime"),
            "order": {"type": "string", "enum": ["asc", "desc"]},
        },
        "",
        "403",
        RECORDS,
        description="On a store several processes share (PostgreSQL, `logging.shared`), the entries of every "
        "gateway and worker (`system.hdb_log`, bounded by `logging.keep_entries` and `logging.keep_days`), each "
        "tagged `host:<name>` and `pid:<n>`; on the embedded store, this process's `<root>/log/gateway.log`.",
    ),
    "read_transaction_log": _doc(
        "A table's transaction log: one entry per committed write, oldest first.",
        _table(
            **{"from": {"type": ["number", "null"]}, "to": {"type": ["number", "null"]}},
            limit=nullable(integer()),
        ),
        "table",
        "403 404",
        {
            "type": "array",
            "items": _object(
                {"operation": STRING, "timestamp": ref("Number"), "hash_values": {"type": "array"}}
            ),
        },
        description="`from`/`to`: epoch milliseconds (inclusive). Each entry: `operation` (insert, update, "
        "upsert, delete), `user`, `timestamp`, `hash_values` (the keys written), `records` (as an operation "
        "sent them; bulk loads and batch imports log keys only), `source` (the operation or work that wrote, "
        "when it is not `operation`).",
    ),
    "delete_transaction_logs_before": _doc(
        "Delete a table's transaction-log entries older than a time (a job).",
        _table(timestamp=ref("Number")),
        "table timestamp",
        "403 404",
        JOB_STARTED,
        description="`timestamp`: epoch milliseconds.",
    ),
    "delete_audit_logs_before": _doc(
        "Delete a table's audit-log entries older than a time (a job; the same entries as the transaction log).",
        _table(timestamp=ref("Number")),
        "table timestamp",
        "403 404",
        JOB_STARTED,
        description="`timestamp`: epoch milliseconds. 400 unless `logging.auditLog` is on.",
    ),
    "read_audit_log": _doc(
        "Entries of the gateway's audit table; with a `table`, that table's audit log.",
        {
            "database": DATABASE,
            "table": TABLE,
            "search_type": {
                "type": ["string", "null"],
                "enum": ["", "timestamp", "type", "username", "hash_value", None],
            },
            "search_values": {"type": "array", "items": ref("JsonValue")},
            "limit": nullable(integer()),
        },
        "",
        "403 404",
        {
            "anyOf": [
                {"type": "array", "items": _object({"id": ref("PresentValue"), "type": STRING})},
                {"type": "array", "items": _object({"operation": STRING, "timestamp": ref("Number")})},
                {"type": "object", "additionalProperties": {"type": "array"}},
            ]
        },
        any_of=(
            {
                "anyOf": [
                    {
                        "required": ["search_type"],
                        "properties": {
                            "search_type": {"const": "timestamp"},
                            "search_values": {"type": "array", "maxItems": 2, "items": ref("Number")},
                        },
                    },
                    {
                        "required": ["search_type"],
                        "properties": {
                            "search_type": {"const": "username"},
                            "search_values": {"type": "array", "items": STRING},
                        },
                    },
                    {
                        "required": ["search_type"],
                        "not": {"required": ["table"]},
                        "properties": {
                            "search_type": {"const": "type"},
                            "search_values": {"type": "array", "items": STRING},
                        },
                    },
                    {
                        "required": ["search_type", "table"],
                        "properties": {
                            "search_type": {"const": "hash_value"},
                            "search_values": {"type": "array", "items": {"anyOf": [STRING, ref("Number")]}},
                        },
                    },
                    {"properties": {"search_type": {"enum": ["", None]}}},
                ]
            },
        ),
        description="`search_values`: for `timestamp` [from, until] epoch milliseconds; for `type` entry "
        "types; for `username` who acted or was acted on. With a `table` (needs `logging.auditLog`, else "
        "400): that table's logged writes with `user_name`, `hash_values`, `records` and the "
        "`original_records` of updates and deletes; `username` answers an object of entries per user, "
        "`hash_value` (primary keys) an object of entries per key, each narrowed to that record.",
    ),
    "system_information": _doc(
        "Process and system facts, by section.",
        {
            "attributes": nullable(
                {"type": "array", "items": STRING, "description": "Sections; unknown ones are left out."}
            )
        },
        "",
        "403",
        {"type": "object"},
    ),
    "get_configuration": _doc(
        "The effective configuration (secrets masked).", {}, "", "403", {"type": "object"}
    ),
    "set_configuration": _doc(
        "Write configuration keys to the YAML file (effective after a restart).",
        _configuration_fields(),
        "",
        "403 409 507",
        MESSAGE,
        closed=True,
        description="Keys nested, dotted (`http.port`) or flattened (`http_port`); unknown keys are refused "
        "(400), and at least one is needed. A key given in two spellings takes the later value; each value "
        "must have the key's type. 409 when the server has no configuration file.",
    ),
    "set_status": _doc(
        "Set a status value (kept in this process's memory, not across restarts).",
        {
            "id": nullable({"type": "string", "enum": list(STATUS_IDS), "description": "Default primary."}),
            "status": {"type": "string", "minLength": 1, "maxLength": MAX_STATUS_LENGTH},
        },
        "status",
        "403",
        STATUS_ENTRY,
        any_of=(
            {
                "anyOf": [
                    {
                        "required": ["id"],
                        "properties": {
                            "id": {"const": AVAILABILITY},
                            "status": {"enum": list(AVAILABILITY_VALUES)},
                        },
                    },
                    {"properties": {"id": {"enum": [i for i in STATUS_IDS if i != AVAILABILITY] + [None]}}},
                ]
            },
        ),
        description="`availability` takes only `Available` or `Unavailable`; while it is `Unavailable`, "
        "`GET /ready` answers 503.",
    ),
    "get_status": _doc(
        "One status value (404 when not set), or every value set when no id is given.",
        {"id": nullable({"type": "string", "enum": list(STATUS_IDS)})},
        "",
        "403 404",
        {"anyOf": [STATUS_ENTRY, {"type": "array", "items": STATUS_ENTRY}]},
    ),
    "clear_status": _doc(
        "Remove a status value (answered the same when it was not set).",
        {"id": {"type": "string", "enum": list(STATUS_IDS)}},
        "id",
        "403",
        MESSAGE,
    ),
    "list_metrics": _doc(
        "The names of the metrics get_analytics can read (super users).",
        {
            "metric_types": nullable(
                {
                    "type": "array",
                    "items": {"type": "string", "enum": ["builtin", "custom"]},
                    "description": 'Default `["builtin"]`; there are no custom metrics, so `custom` adds none.',
                }
            )
        },
        "",
        "403",
        {"type": "array", "items": {"type": "string", "enum": list(metrics_catalog.BUILTIN)}},
    ),
    "describe_metric": _doc(
        "The attributes of a metric's entries and their types (super users).",
        {"metric": {"type": "string", "enum": list(metrics_catalog.BUILTIN)}},
        "metric",
        "403 404",
        _object({"attributes": {"type": "array", "items": _object({"name": STRING, "type": STRING})}}),
        description="Another `metric` is 404, naming the builtin metrics.",
    ),
    "get_analytics": _doc(
        "A metric's stored samples, oldest first (super users).",
        {
            "metric": {"type": "string", "enum": list(metrics_catalog.BUILTIN)},
            "start_time": nullable(_SECONDS),
            "end_time": nullable(_SECONDS),
            "get_attributes": nullable(ref("AttributeNames")),
            "conditions": nullable(ref("Conditions")),
            "operator": ref("Operator"),
        },
        "metric",
        "403 404",
        {"type": "array", "items": {"type": "object", "additionalProperties": ref("JsonValue")}},
        description="Every process on the store stores one sample of each metric every "
        "`metrics.sample_seconds` (`node`: its host:pid; `time`: epoch ms at the end of the `period`, in ms), "
        "kept `metrics.keep_days`. `start_time` and `end_time` bound `time` (inclusive; none when `start_time` is "
        "after `end_time`); `conditions` filter like search_by_conditions (a condition's `operator`, as in HarperDB's example, is its comparator; an attribute an entry lacks "
        "does not match); `get_attributes` picks attributes. Another `metric` is 404, naming the builtin "
        "metrics.",
    ),
    "registration_info": _doc(
        "Name and version.", {}, "", "403", _object({"name": STRING, "version": STRING})
    ),
    "cluster_status": _doc(
        "The gateways and workers alive on this store.",
        {},
        "",
        "403",
        _object(
            {
                "node_name": STRING,
                "is_enabled": {"type": "boolean"},
                "backend": STRING,
                "heartbeat": {"type": "number"},
                "expiry": {"type": "number"},
                "processes": {
                    "type": "array",
                    "items": _object(
                        {
                            "id": STRING,
                            "host": STRING,
                            "pid": {"type": "integer"},
                            "role": {"type": "string", "enum": ["serve", "web", "worker"]},
                            "started": STRING,
                            "last_heartbeat": STRING,
                            "running": _object(
                                {
                                    "batches": {"type": "array", "items": STRING},
                                    "jobs": {"type": "array", "items": STRING},
                                }
                            ),
                            "this_process": {"type": "boolean"},
                        }
                    ),
                },
            }
        ),
        description="On a store several processes share (PostgreSQL), every gateway (`serve`, or `web` for "
        "`gateway serve --no-worker`) and `worker` whose heartbeat (`cluster.heartbeat` seconds) is younger than "
        "`cluster.expiry` seconds, this process first; on the embedded store, this process alone "
        "(`is_enabled` false). `running`: the batch identifiers and job ids each process runs now.",
    ),
    "restart": _doc(
        "Restart this server: answer, stop gracefully, start again on the same root and port.",
        {"replicated": _NOT_REPLICATED},
        "",
        "403 409",
        MESSAGE,
        closed=True,
        description=_RESTART,
    ),
    "restart_service": _doc(
        "Restart a service: `http_workers`, the HTTP server (here the whole process, as `restart`).",
        {
            "service": {
                "type": "string",
                "enum": list(SERVICES),
                "description": "`http_workers`; HarperDB's `clustering` and `clustering_config` are 400: "
                "this server has no clustering service.",
            },
            "replicated": _NOT_REPLICATED,
        },
        "service",
        "403 409",
        MESSAGE,
        closed=True,
        description=_RESTART,
    ),
    # imports
    "add_import_model": _doc(
        "Register an import model: validated, its database and tables created.",
        {
            "model": {
                "anyOf": [ref("ImportModel"), {"type": "string", "description": "The model as JSON text."}],
            },
            "replace": nullable(
                {"type": "boolean", "description": "Replace a model of that name (else 400)."}
            ),
        },
        "model",
        "403 507",
        _object({"message": STRING, "database": STRING, "tables": {"type": "array", "items": STRING}}),
    ),
    "drop_import_model": _doc(
        "Forget an import model (its data stays).", {"name": TEXT}, "name", "403 404 507", MESSAGE
    ),
    "list_import_models": _doc(
        "The registered import models.", {}, "", "403", {"type": "array", "items": _object({"name": STRING})}
    ),
    "describe_import_model": _doc(
        "One model with its destinations and Names.",
        {"name": TEXT},
        "name",
        "403 404",
        _object({"name": STRING}),
    ),
    "validate_control_file": _doc(
        "Validate a control file: `{valid, errors}` (200 however bad the file).",
        {
            "control": {
                "$ref": "#/components/schemas/JsonValue",
                "description": "The control file: an object, or JSON text.",
            }
        },
        "control",
        "403",
        _object({"valid": {"type": "boolean"}, "errors": {"type": "array", "items": STRING}}),
    ),
    "create_api_key": _doc(
        "Create a batch-API key; the key is shown once.",
        {
            "name": _API_KEY_NAME,
            "path": nullable(
                {
                    "type": "string",
                    "pattern": "^(=?/|$)",
                    "description": f"A path prefix, or `=/exact/path`; default (null or empty) `{DEFAULT_PATH}`.",
                }
            ),
            "expires": _EXPIRES,
        },
        "name",
        "403 507",
        _object({"id": STRING, "name": STRING, "path": STRING, "key": STRING}),
    ),
    "list_api_keys": _doc(
        "API keys without their secrets.", {}, "", "403", {"type": "array", "items": _object({"id": STRING})}
    ),
    "revoke_api_key": _doc("Revoke an API key at once.", {"id": TEXT}, "id", "403 404 507", MESSAGE),
    "list_control_files": _doc(
        "Control files: digest, size, comment, created.",
        {},
        "",
        "403",
        {"type": "array", "items": _object({"digest": STRING})},
    ),
    "list_import_batches": _doc(
        "Batches, newest first.",
        {"state": {"type": ["string", "null"], "enum": [*STATES, None]}, "limit": nullable(integer())},
        "",
        "403",
        {"type": "array", "items": BATCH},
    ),
    "get_import_batch": _doc(
        "One batch with state, errors, log, progress and summary (with a dry run's change report) (any role).",
        {"batch": {"type": "string", "pattern": BATCH_ID}},
        "batch",
        "404",
        BATCH,
    ),
    "copy_import_batch": _doc(
        "A new ready batch with the same control and files.",
        {"batch": {"type": "string", "pattern": BATCH_ID}},
        "batch",
        "403 404 507",
        BATCH,
    ),
    "add_push_data_api": _doc(
        "Define a REST push-data API (`POST /api/push-data/<url>`) and create its key; the key is shown once.",
        _PUSH_FIELDS,
        "url",
        "403 507",
        PUSH_API | {"required": [*PUSH_API["required"], "key"]},
        any_of=(
            {
                "anyOf": [
                    {"required": ["control"], "properties": {"control": ref("PresentValue")}},
                    {"required": ["control_digest"], "properties": {"control_digest": {"type": "string"}}},
                ]
            },
        ),
        description="The control file is checked against the registered models (400 `Not a valid control "
        "file: ...`; `Invalid JSON, check syntax` for bad JSON text); a url in use is 400 `URL is already in "
        "use.`. The key (named `REST API: <description>`) allows exactly the path `/api/push-data/<url>`.",
    ),
    "alter_push_data_api": _doc(
        "Change a push-data API's description, control file, enabled or response, or replace its key.",
        {
            **_PUSH_FIELDS,
            "new_key": nullable(
                {
                    "type": "boolean",
                    "description": "true: a new key (shown once); the old one is revoked at once.",
                }
            ),
        },
        "url",
        "403 404 507",
        PUSH_API,
        any_of=(
            {
                "anyOf": [
                    {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                    for name in ("description", "control", "control_digest", "enabled", "response")
                ]
                + [{"required": ["new_key"], "properties": {"new_key": {"const": True}}}]
            },
        ),
        description="At least one change (a field not null, or `new_key` true), else 400. The url cannot change; "
        "an unknown url is 404 `API not defined: <url>`.",
    ),
    "drop_push_data_api": _doc(
        "Delete a push-data API and revoke its key.", {"url": _PUSH_URL}, "url", "403 404 507", MESSAGE
    ),
    "list_push_data_apis": _doc(
        "Push-data APIs with their key's id (never the key).",
        {},
        "",
        "403",
        {"type": "array", "items": PUSH_API},
    ),
}


def operation_schema(name: str, source: str) -> Schema:
    """The request-body schema of operation ``name``, described by ``DOCS[source]`` (its own or, for an
    alias such as ``create_schema``, its operation's)."""
    doc = DOCS[source]
    properties: dict[str, Schema] = {"operation": {"type": "string", "const": name}}
    required = ["operation"]
    alternatives = list(doc.any_of)
    for field_name, field_schema in doc.properties.items():
        properties[field_name] = field_schema
        old = alias_of(field_name)
        if old is None or doc.closed:
            if field_name in doc.required:
                required.append(field_name)
            continue
        # HarperDB's older name counts only when the current one is absent.
        properties[old] = {
            "$ref": "#/components/schemas/JsonValue",
            "deprecated": True,
            "description": f"Older name of {field_name}, used when {field_name} is absent.",
        }
        by_alias: Schema = {"properties": {old: field_schema}}
        if field_name in doc.required:
            by_alias["required"] = [old]
        alternatives.append({"anyOf": [{"required": [field_name]}, by_alias]})
    summary = doc.summary if source == name else f"Alias of {source}. {doc.summary}"
    schema: Schema = {
        "type": "object",
        "title": name,
        "description": " ".join(part for part in (summary, doc.description) if part),
        "properties": properties,
        "required": required,
        "additionalProperties": False if doc.closed else ref("JsonValue"),
        "x-statuses": statuses(source),
        "x-answer": f"answer_{source}",
    }
    if doc.media != "application/json":
        schema["x-answer-media"] = doc.media
    if doc.closed:
        schema["minProperties"] = 2
    if len(alternatives) == 1:
        schema |= alternatives[0]
    elif alternatives:
        schema["allOf"] = alternatives
    return schema


def statuses(source: str) -> list[int]:
    """Every status operation ``source`` may answer."""
    return sorted({200, 400, 401, 429, *DOCS[source].statuses})


def answer_schema(source: str) -> Schema:
    """The schema of the 200 answer of ``source``."""
    return DOCS[source].answer
