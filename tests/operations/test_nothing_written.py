"""Bad input to each family leaves no trace: no table, attribute, role, user, audit entry or config."""

from __future__ import annotations

from tests.operations.conftest import DOGS


def test_tables_family(dogs):
    before = dogs({"operation": "describe_all"})
    for body in (
        {"operation": "create_table", "database": "newdb", "table": "t"},  # no primary key
        {"operation": "create_table", "database": "newdb", "table": "t", "primary_key": 5},
        {
            "operation": "create_table",
            "database": "newdb",
            "table": "t",
            "primary_key": "id",
            "attributes": [{"name": "x", "type": "Nope"}],
        },
        {
            "operation": "create_table",
            "database": "newdb",
            "table": "t",
            "primary_key": "id",
            "expiration": "soon",
        },
        {"operation": "create_table", "database": "new/db", "table": "t", "primary_key": "id"},
        {"operation": "create_attribute", "database": "dev", "table": "dog", "attribute": ""},
        {
            "operation": "create_attribute",
            "database": "dev",
            "table": "dog",
            "attribute": "x",
            "indexed": "yes",
        },
        {"operation": "drop_attribute", "database": "dev", "table": "dog", "attribute": "id"},
        {"operation": "create_database", "database": ["dev"]},
    ):
        assert 400 <= dogs.raw(body).status_code < 500, body
    assert dogs({"operation": "describe_all"}) == before


def test_users_family(op):
    roles, users = op({"operation": "list_roles"}), op({"operation": "list_users"})
    for body in (
        {"operation": "add_role", "role": "r", "permission": {"dev": {"tables": {"dog": {"read": 1}}}}},
        {"operation": "add_role", "role": "r", "permission": "all"},
        {"operation": "add_role", "permission": {"super_user": False}},
        {"operation": "add_user", "username": "u", "password": "pw", "role": "nope"},
        {"operation": "add_user", "username": "u", "password": "", "role": "super_user"},
        {"operation": "add_user", "username": "u", "password": "pw", "role": "super_user", "active": "yes"},
        {"operation": "alter_user", "username": "admin", "role": "nope"},
        {"operation": "alter_user", "username": "admin", "active": False},
        {"operation": "alter_role", "id": "super_user", "permission": {"super_user": "no"}},
        {"operation": "drop_role", "id": "super_user"},
    ):
        assert 400 <= op.raw(body).status_code < 500, body
    assert op({"operation": "list_roles"}) == roles
    assert op({"operation": "list_users"}) == users
    assert op({"operation": "read_audit_log"}) == []


def test_configuration_family(op, root):
    for body in (
        {"operation": "set_configuration", "http_port": "x", "logging_level": "debug"},
        {"operation": "set_configuration", "logging_level": "debug", "bogus": 1},
        {"operation": "set_configuration", "http": {"nope": 1}},
    ):
        assert op.raw(body).status_code == 400, body
    assert not (root / "gateway-config.yaml").exists()


def test_search_family_reads_only(dogs):
    before = dogs({"operation": "describe_table", "database": "dev", "table": "dog"})
    dogs(
        {
            "operation": "search_by_value",
            "database": "dev",
            "table": "dog",
            "attribute": "new_one",
            "value": 1,
            "get_attributes": ["id"],
        },
        400,  # unknown attribute 'new_one'
    )
    dogs(
        {
            "operation": "search_by_conditions",
            "database": "dev",
            "table": "dog",
            "get_attributes": ["id"],
            "conditions": [{"search_attribute": "other_new", "search_type": "equals", "search_value": 1}],
        },
        400,  # unknown attribute 'other_new'
    )
    after = dogs({"operation": "describe_table", "database": "dev", "table": "dog"})
    assert after["attributes"] == before["attributes"] and after["record_count"] == len(DOGS)
