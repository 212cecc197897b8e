"""Request-body schemas of the operations of ``POST /``, for the OpenAPI description.

``OPERATION_FIELDS`` maps an operation name to the JSON Schema properties of its
body (besides ``operation``) and the required ones. The generator in
``gateway.http.openapi`` turns every registered operation into one branch of a
``oneOf`` discriminated by ``operation``; a registered operation missing here
gets a permissive branch, so the description never omits one.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer", "minimum": 0}
ANY: Schema = {}
OBJECT: Schema = {"type": "object", "additionalProperties": True}
DATABASE: Schema = {"type": "string", "description": "Database (alias: schema); default 'data'."}
TABLE: Schema = {"type": "string"}
RECORDS: Schema = {"type": "array", "items": OBJECT, "description": "Records (JSON objects)."}
IDS: Schema = {"type": "array", "items": ANY, "description": "Primary keys (alias: hash_values)."}
ATTRIBUTES: Schema = {
    "type": "array",
    "items": STRING,
    "description": "Attributes to return; ['*'] for all.",
}
ACTION: Schema = {"type": "string", "enum": ["insert", "update", "upsert"], "default": "insert"}
S3: Schema = {
    "type": "object",
    "properties": {
        "aws_access_key_id": STRING,
        "aws_secret_access_key": STRING,
        "bucket": STRING,
        "key": STRING,
        "region": STRING,
        "endpoint_url": {"type": "string", "description": "For S3-compatible servers."},
    },
    "required": ["bucket", "key"],
}
CONDITION: Schema = {
    "type": "object",
    "properties": {
        "attribute": STRING,
        "comparator": {
            "type": "string",
            "enum": [
                "equals",
                "contains",
                "starts_with",
                "ends_with",
                "greater_than",
                "greater_than_equal",
                "less_than",
                "less_than_equal",
                "between",
                "not_equal",
            ],
        },
        "value": ANY,
        "operator": {"type": "string", "enum": ["and", "or"]},
        "conditions": {"type": "array", "items": OBJECT, "description": "A nested condition group."},
    },
}
SORT: Schema = {
    "type": "object",
    "properties": {"attribute": STRING, "descending": BOOL, "next": OBJECT},
    "required": ["attribute"],
}
PERMISSION: Schema = {
    "type": "object",
    "additionalProperties": True,
    "description": "{super_user: bool, <database>: {tables: {<table>: {read, insert, update, delete, attribute_permissions}}}}",
}
SEARCH_OPERATION: Schema = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "operation": {
            "type": "string",
            "enum": ["search_by_hash", "search_by_id", "search_by_value", "search_by_conditions", "sql"],
        }
    },
    "required": ["operation"],
}


def _table(**extra: Schema) -> dict[str, Schema]:
    return {"database": DATABASE, "table": TABLE, **extra}


# name -> (properties, required, summary)
OPERATION_FIELDS: dict[str, tuple[dict[str, Schema], list[str], str]] = {
    "describe_all": ({}, [], "Every database with its tables."),
    "describe_database": ({"database": DATABASE}, [], "One database's tables."),
    "describe_table": (_table(), ["table"], "One table: primary key, attributes, record count."),
    "create_database": ({"database": DATABASE}, [], "Create a database."),
    "drop_database": ({"database": DATABASE}, ["database"], "Drop a database and its tables."),
    "create_table": (
        _table(
            primary_key=STRING,
            hash_attribute={"type": "string", "description": "Legacy name of primary_key."},
            attributes={
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": STRING, "type": STRING, "indexed": BOOL},
                    "required": ["name"],
                },
            },
            expiration={"type": "integer"},
        ),
        ["table"],
        "Create a table.",
    ),
    "drop_table": (_table(), ["table"], "Drop a table."),
    "create_attribute": (_table(attribute=STRING), ["table", "attribute"], "Add an attribute to a table."),
    "drop_attribute": (_table(attribute=STRING), ["table", "attribute"], "Remove an attribute."),
    "get_backup": (_table(), [], "A tar of a RocksDB checkpoint of a database."),
    "insert": (_table(records=RECORDS), ["table", "records"], "Insert records."),
    "update": (_table(records=RECORDS), ["table", "records"], "Update records by primary key."),
    "upsert": (_table(records=RECORDS), ["table", "records"], "Insert or update records."),
    "delete": (_table(ids=IDS), ["table", "ids"], "Delete records by primary key."),
    "search_by_id": (_table(ids=IDS, get_attributes=ATTRIBUTES), ["table", "ids"], "Records by primary key."),
    "search_by_hash": (
        _table(ids=IDS, get_attributes=ATTRIBUTES),
        ["table", "ids"],
        "Deprecated name of search_by_id.",
    ),
    "search_by_value": (
        _table(attribute=STRING, value=ANY, get_attributes=ATTRIBUTES, limit=INT, offset=INT),
        ["table", "attribute", "value", "get_attributes"],
        "Records whose attribute matches a value (wildcards *).",
    ),
    "search_by_conditions": (
        _table(
            operator={"type": "string", "enum": ["and", "or"]},
            conditions={"type": "array", "items": CONDITION},
            sort=SORT,
            offset=INT,
            limit=INT,
            get_attributes=ATTRIBUTES,
        ),
        ["table", "conditions", "get_attributes"],
        "Records matching conditions.",
    ),
    "sql": ({"sql": STRING}, ["sql"], "SELECT, INSERT, UPDATE or DELETE on one table."),
    "csv_data_load": (_table(action=ACTION, data=STRING), ["table", "data"], "Load CSV text (a job)."),
    "csv_file_load": (
        _table(action=ACTION, file_path=STRING),
        ["table", "file_path"],
        "Load a CSV file from an import directory (a job).",
    ),
    "csv_url_load": (
        _table(action=ACTION, csv_url={"type": "string", "format": "uri"}),
        ["table", "csv_url"],
        "Load CSV from an http(s) URL (a job).",
    ),
    "import_from_s3": (
        _table(action=ACTION, s3=S3),
        ["table", "s3"],
        "Load a .csv or .json object from S3 (a job).",
    ),
    "export_local": (
        {
            "format": {"type": "string", "enum": ["json", "csv"]},
            "path": STRING,
            "filename": STRING,
            "search_operation": SEARCH_OPERATION,
        },
        ["format", "path", "search_operation"],
        "Export search results to a file in an export directory (a job).",
    ),
    "export_to_s3": (
        {
            "format": {"type": "string", "enum": ["json", "csv"]},
            "s3": S3,
            "search_operation": SEARCH_OPERATION,
        },
        ["format", "s3", "search_operation"],
        "Export search results to S3 (a job).",
    ),
    "delete_records_before": (
        _table(date=STRING),
        ["table", "date"],
        "Delete records created before a date (a job).",
    ),
    "get_job": ({"id": STRING}, ["id"], "One job with its progress."),
    "search_jobs_by_start_date": (
        {"from_date": STRING, "to_date": STRING},
        ["from_date", "to_date"],
        "Jobs started in a time range.",
    ),
    "list_roles": ({}, [], "Every role."),
    "add_role": (
        {"role": STRING, "permission": PERMISSION, "id": STRING},
        ["role", "permission"],
        "Add a role.",
    ),
    "alter_role": ({"id": STRING, "role": STRING, "permission": PERMISSION}, ["id"], "Change a role."),
    "drop_role": ({"id": STRING}, ["id"], "Drop a role."),
    "list_users": ({}, [], "Every user."),
    "user_info": ({}, [], "The calling user."),
    "add_user": (
        {"username": STRING, "password": STRING, "role": STRING, "active": BOOL},
        ["username", "password", "role"],
        "Add a user.",
    ),
    "alter_user": (
        {"username": STRING, "password": STRING, "role": STRING, "active": BOOL},
        ["username"],
        "Change a user.",
    ),
    "drop_user": ({"username": STRING}, ["username"], "Drop a user."),
    "create_authentication_tokens": (
        {"username": STRING, "password": STRING},
        ["username", "password"],
        "Operation (JWT, 1 day) and refresh (30 days) tokens; no prior authentication.",
    ),
    "refresh_operation_token": ({"refresh_token": STRING}, ["refresh_token"], "A new operation token."),
    "read_log": (
        {
            "limit": INT,
            "start": INT,
            "level": STRING,
            "from": STRING,
            "until": STRING,
            "order": {"type": "string", "enum": ["asc", "desc"]},
        },
        [],
        "Entries of the gateway's log.",
    ),
    "read_audit_log": (
        {"type": STRING, "limit": INT, "start": INT, "from": STRING, "until": STRING},
        [],
        "Entries of the gateway's audit table.",
    ),
    "system_information": (
        {"attributes": {"type": "array", "items": STRING}},
        [],
        "Process and system facts.",
    ),
    "get_configuration": ({}, [], "The effective configuration."),
    "set_configuration": ({}, [], "Change configuration keys (takes effect on restart)."),
    "registration_info": ({}, [], "Name and version."),
    "add_import_model": (
        {"model": OBJECT, "replace": BOOL},
        ["model"],
        "Register an import model (haplo-import.md §7.4).",
    ),
    "drop_import_model": ({"name": STRING}, ["name"], "Forget an import model (its data stays)."),
    "list_import_models": ({}, [], "The registered import models."),
    "describe_import_model": ({"name": STRING}, ["name"], "One model with its destinations and Names."),
    "validate_control_file": (
        {"control": {"description": "The control file: an object, or JSON text."}},
        ["control"],
        "Validate a control file: {valid, errors}.",
    ),
    "create_api_key": (
        {
            "name": STRING,
            "path": {"type": "string", "description": "A path prefix, or =/exact/path."},
            "expires": STRING,
        },
        ["name"],
        "Create a batch-API key; the key is shown once.",
    ),
    "list_api_keys": ({}, [], "API keys without their secrets."),
    "revoke_api_key": ({"id": STRING}, ["id"], "Revoke an API key at once."),
    "list_control_files": ({}, [], "Control files: digest, size, comment, created."),
    "list_import_batches": ({"state": STRING, "limit": INT}, [], "Batches, newest first."),
    "get_import_batch": ({"batch": STRING}, ["batch"], "One batch with state, errors, log and progress."),
    "copy_import_batch": ({"batch": STRING}, ["batch"], "A new ready batch with the same control and files."),
}


def operation_schema(name: str, fields_of: str | None = None) -> Schema:
    """The request-body schema of one operation: ``operation`` fixed to its name plus its fields.

    ``fields_of``: the operation whose fields to use (for an alias such as ``create_schema``).
    """
    source = fields_of or name
    properties, required, summary = OPERATION_FIELDS.get(source, ({}, [], "An operation of this gateway."))
    if source != name:
        summary = f"Alias of {source}. {summary}"
    return {
        "type": "object",
        "title": name,
        "description": summary,
        "properties": {"operation": {"type": "string", "enum": [name]}, **properties},
        "required": ["operation", *required],
        "additionalProperties": True,
    }
