"""Hundreds of malformed requests to every operation of this family: never a 5xx."""

from __future__ import annotations

import random
from typing import Any

from tests.conftest import ADMIN_AUTH

OPERATIONS = [
    "describe_all", "describe_database", "describe_table", "create_database", "drop_database", "create_table",
    "drop_table", "create_attribute", "drop_attribute", "get_backup", "insert", "update", "upsert", "delete",
    "search_by_id", "search_by_hash", "search_by_value", "search_by_conditions", "list_roles", "add_role",
    "alter_role", "drop_role", "list_users", "user_info", "add_user", "alter_user", "drop_user",
    "create_authentication_tokens", "refresh_operation_token", "read_log", "read_audit_log",
    "system_information", "get_configuration", "set_configuration", "registration_info",
]  # fmt: skip
FIELDS = [
    "database", "schema", "table", "records", "ids", "hash_values", "get_attributes", "attribute", "value",
    "search_attribute", "search_value", "conditions", "operator", "sort", "offset", "limit", "primary_key",
    "hash_attribute", "attributes", "expiration", "role", "permission", "id", "username", "password",
    "active", "refresh_token", "level", "from", "until", "start", "order", "search_type", "search_values",
    "indexed", "http", "logging_level", "http.port",
]  # fmt: skip
VALUES: list[Any] = [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 1.5, -0.0, 1e308, "", "x", "dev", "dog", "*", "Pe*", "a/b",
    "\u0000", "é" * 300, [], [None], [1, "a"], [[[]]], [{}], [{"id": 1}], [{"id": {"a": 1}}], [{"id": []}],
    {}, {"a": 1}, {"attribute": 5}, {"attribute": "id", "next": "x"}, {"super_user": "yes"},
    [{"search_attribute": "id", "search_type": "between", "search_value": [1]}],
    [{"search_attribute": 1, "search_type": "equals", "search_value": 1}],
    [{"conditions": "x"}], [{"search_attribute": "id", "search_type": "equals", "search_value": {"x": 1}}],
    [{"name": 1}], [{"name": "x", "type": 5}], {"dev": {"tables": []}},
]  # fmt: skip
RAW_BODIES = [
    b"",
    b" ",
    b"{",
    b"[]",
    b"null",
    b"42",
    b'"text"',
    b'{"operation": 5}',
    b'{"operation": null}',
    b'{"operation": ["insert"]}',
    b'{"operation": "insert", "records": [1, 2',
    b"\xff\xfe\x00",
    b'{"operation": "describe_all"} trailing',
    b'{"operation": "insert", "table": "dog", "records": [{"id": 1e400}]}',
    b'{"operation": "insert", "table": "dog", "records": [{"id": 123456789012345678901234567890}]}',
    b"[" * 5000 + b"]" * 5000,
]


def test_malformed_bodies_never_answer_5xx(dogs, client):
    rng = random.Random(20240115)
    failures = []
    bodies: list[dict[str, Any]] = []
    for operation in OPERATIONS:
        # every field with every kind of wrong value, a few at a time
        for _ in range(10):
            body: dict[str, Any] = {"operation": operation, "database": "dev", "table": "dog"}
            for name in rng.sample(FIELDS, 3):
                body[name] = rng.choice(VALUES)
            bodies.append(body)
    for body in bodies:
        response = client.post("/", json=body, headers=ADMIN_AUTH)
        if response.status_code >= 500:
            failures.append((body, response.status_code, response.text))
    for raw in RAW_BODIES:
        response = client.post("/", content=raw, headers={**ADMIN_AUTH, "Content-Type": "application/json"})
        if response.status_code >= 500 or response.status_code < 400:
            failures.append((raw[:80], response.status_code, response.text))
    assert len(bodies) >= 300
    assert failures == []


# the fields each operation reads (besides database/table)
OPERATION_FIELDS: dict[str, list[str]] = {
    "describe_all": [],
    "describe_database": ["database", "schema"],
    "describe_table": ["database", "table"],
    "create_database": ["database"],
    "drop_database": ["database"],
    "create_table": ["table", "primary_key", "hash_attribute", "attributes", "expiration"],
    "drop_table": ["table"],
    "create_attribute": ["attribute", "indexed"],
    "drop_attribute": ["attribute"],
    "get_backup": ["database"],
    "insert": ["table", "records"],
    "update": ["records"],
    "upsert": ["records"],
    "delete": ["ids", "hash_values"],
    "search_by_id": ["ids", "hash_values", "get_attributes"],
    "search_by_hash": ["hash_values", "get_attributes"],
    "search_by_value": [
        "attribute",
        "search_attribute",
        "value",
        "search_value",
        "get_attributes",
        "offset",
        "limit",
    ],
    "search_by_conditions": ["conditions", "operator", "sort", "offset", "limit", "get_attributes"],
    "list_roles": [],
    "add_role": ["role", "permission", "id"],
    "alter_role": ["id", "role", "permission"],
    "drop_role": ["id"],
    "list_users": [],
    "user_info": [],
    "add_user": ["username", "password", "role", "active"],
    "alter_user": ["username", "role", "active"],
    "drop_user": ["username"],
    "create_authentication_tokens": ["username", "password"],
    "refresh_operation_token": ["refresh_token"],
    "read_log": ["limit", "start", "level", "from", "until", "order"],
    "read_audit_log": ["search_type", "search_values", "limit"],
    "system_information": ["attributes"],
    "get_configuration": [],
    "set_configuration": ["http", "logging_level", "http.port"],
    "registration_info": [],
}
# a plausible body per operation, whose fields are then replaced one at a time
VALID: dict[str, dict[str, Any]] = {
    "add_role": {"role": "r1", "permission": {"super_user": False}},
    "alter_role": {"id": "r1", "role": "r2"},
    "add_user": {"username": "u1", "password": "pw", "role": "super_user"},
    "alter_user": {"username": "u1", "active": True},
    "search_by_id": {"ids": [1], "get_attributes": ["*"]},
    "search_by_value": {"attribute": "id", "value": "*", "get_attributes": ["*"]},
    "search_by_conditions": {"conditions": [], "get_attributes": ["*"]},
    "insert": {"records": [{"id": 1}]},
    "create_table": {"table": "t1", "primary_key": "id"},
}
WRONG_VALUES: list[Any] = [None, 7, "str", [1], {"k": "v"}, True]


def test_wrong_type_for_every_field_of_every_operation(dogs, client):
    assert set(OPERATION_FIELDS) == set(OPERATIONS)
    failures = []
    count = 0
    for operation, names in OPERATION_FIELDS.items():
        for name in names:
            for value in WRONG_VALUES:
                body = {"operation": operation, "database": "dev", "table": "dog", **VALID.get(operation, {})}
                if operation.startswith("drop_"):
                    body["database"] = "scratch"  # keep dev.dog for the rest of the loop
                body[name] = value
                response = client.post("/", json=body, headers=ADMIN_AUTH)
                count += 1
                if response.status_code >= 500:
                    failures.append((body, response.status_code, response.text))
    assert count > 400
    assert failures == []
    assert client.post("/", json={"operation": "user_info"}, headers=ADMIN_AUTH).status_code == 200
