"""Users, roles and per-table permissions through the real app."""

from __future__ import annotations

from tests.conftest import Ops, basic
from tests.operations.conftest import make_user

FORBIDDEN = "This operation is not authorized due to role restrictions and/or invalid database items"
DEV_PERMISSION = {
    "super_user": False,
    "dev": {
        "tables": {
            "dog": {
                "read": True,
                "insert": True,
                "update": False,
                "delete": False,
                "attribute_permissions": [],
            }
        }
    },
}


def test_roles(op):
    added = op({"operation": "add_role", "role": "developer", "permission": DEV_PERMISSION})
    assert list(added) == ["role", "permission", "id", "__updatedtime__", "__createdtime__"]
    assert added["role"] == added["id"] == "developer" and added["permission"] == DEV_PERMISSION
    assert op({"operation": "add_role", "role": "developer", "permission": {"super_user": False}}, 409) == {
        "error": "A role with name 'developer' already exists"
    }
    roles = op({"operation": "list_roles"})
    assert [r["id"] for r in roles] == ["developer", "super_user"]
    assert list(roles[0]) == ["permission", "role", "id", "__updatedtime__", "__createdtime__"]
    altered = op(
        {"operation": "alter_role", "id": "developer", "role": "dev", "permission": {"super_user": False}}
    )
    assert (
        altered["role"] == "dev"
        and altered["permission"] == {"super_user": False}
        and altered["id"] == "developer"
    )
    assert op({"operation": "alter_role", "id": "ghost", "role": "x"}, 404) == {
        "error": "ghost role not found"
    }
    assert op({"operation": "drop_role", "id": "developer"}) == {"message": "dev successfully deleted"}
    assert op({"operation": "drop_role", "id": "developer"}, 404) == {"error": "developer role not found"}
    bad = op(
        {"operation": "add_role", "role": "bad", "permission": {"dev": {"tables": {"dog": {"read": "yes"}}}}},
        400,
    )
    assert bad == {
        "error": "Errors in the role permissions JSON provided",
        "main_permissions": ["'read' of table 'dev.dog' must be a boolean"],
    }
    assert op({"operation": "add_role", "role": "nop"}, 400) == {"error": "'permission' is required"}


def test_users(op, client):
    op({"operation": "add_role", "role": "developer", "permission": DEV_PERMISSION})
    assert op(
        {"operation": "add_user", "role": "developer", "username": "dev1", "password": "pw1", "active": True}
    ) == {"message": "dev1 successfully added"}
    assert op({"operation": "add_user", "role": "developer", "username": "dev1", "password": "pw1"}, 409) == {
        "error": "User dev1 already exists"
    }
    assert op({"operation": "add_user", "role": "nope", "username": "dev2", "password": "pw"}, 404) == {
        "error": "nope role not found"
    }
    assert op({"operation": "add_user", "role": "developer", "username": "a:b", "password": "pw"}, 400) == {
        "error": "'username' cannot contain ':'"
    }
    users = op({"operation": "list_users"})
    assert [u["username"] for u in users] == ["admin", "dev1"]
    assert all("password" not in u for u in users)
    assert users[1]["role"]["permission"] == DEV_PERMISSION and users[1]["active"] is True
    dev1 = Ops(client, basic("dev1", "pw1"))
    info = dev1({"operation": "user_info"})
    assert list(info) == ["active", "username", "role"] and info["username"] == "dev1"
    assert info["role"]["role"] == "developer"
    assert op({"operation": "alter_user", "username": "dev1", "active": False})["update_hashes"] == ["dev1"]
    assert dev1({"operation": "user_info"}, 401) == {"error": "Cannot complete request: User is inactive"}
    ghost = op({"operation": "alter_user", "username": "ghost", "active": False})
    assert ghost["message"] == "updated 0 of 1 records" and ghost["skipped_hashes"] == ["ghost"]
    assert isinstance(ghost["txn_time"], float) and ghost["update_hashes"] == []
    # a new password takes effect at once; the old one stops working
    op({"operation": "alter_user", "username": "dev1", "active": True, "password": "new"})
    assert dev1({"operation": "user_info"}, 401) == {"error": "Login failed"}
    assert Ops(client, basic("dev1", "new"))({"operation": "user_info"})["username"] == "dev1"
    assert op({"operation": "alter_user", "username": "dev1", "role": "nope"}, 404) == {
        "error": "nope role not found"
    }
    assert op({"operation": "drop_role", "id": "developer"}, 409) == {
        "error": "Cannot drop role 'developer': it is assigned to users dev1"
    }
    assert op({"operation": "drop_user", "username": "dev1"}) == {"message": "dev1 successfully deleted"}
    assert op({"operation": "drop_user", "username": "dev1"}, 404) == {"error": "User dev1 does not exist"}
    assert Ops(client, basic("dev1", "new"))({"operation": "user_info"}, 401) == {"error": "Login failed"}


def test_last_super_user_is_protected(op):
    assert op({"operation": "drop_user", "username": "admin"}, 400) == {
        "error": "cannot drop the last active super user"
    }
    assert op({"operation": "alter_user", "username": "admin", "active": False}, 400) == {
        "error": "cannot deactivate or demote the last active super user"
    }
    assert op({"operation": "alter_role", "id": "super_user", "permission": {"super_user": False}}, 400) == {
        "error": "cannot take super_user away from the role of the last active super user"
    }
    assert op({"operation": "user_info"})["username"] == "admin"


def test_permissions_of_a_partial_role(dogs):
    dev1 = make_user(dogs, "dev1", DEV_PERMISSION)
    assert dev1(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1], "get_attributes": ["id"]}
    ) == [{"id": 1}]
    assert dev1({"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 77}]})[
        "inserted_hashes"
    ] == [77]
    assert dev1({"operation": "delete", "database": "dev", "table": "dog", "ids": [1]}, 403) == {
        "error": FORBIDDEN,
        "unauthorized_access": [
            {
                "schema": "dev",
                "table": "dog",
                "required_table_permissions": ["delete"],
                "required_attribute_permissions": [],
            }
        ],
        "invalid_schema_items": [],
    }
    assert dev1({"operation": "upsert", "database": "dev", "table": "dog", "records": [{"id": 1}]}, 403) == {
        "error": FORBIDDEN,
        "unauthorized_access": [
            {
                "schema": "dev",
                "table": "dog",
                "required_table_permissions": ["update"],
                "required_attribute_permissions": [],
            }
        ],
        "invalid_schema_items": [],
    }
    assert dev1(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "breed",
            "ids": [7],
            "get_attributes": ["*"],
        },
        403,
    ) == {
        "error": FORBIDDEN,
        "unauthorized_access": [],
        "invalid_schema_items": ["Table 'dev.breed' does not exist"],
    }
    for operation, internal in (
        ("list_users", "listUsersExternal"),
        ("list_roles", "listRoles"),
        ("create_database", "createSchema"),
        ("system_information", "systemInformation"),
        ("read_log", "readLog"),
        ("get_configuration", "getConfiguration"),
        ("drop_table", "dropTable"),
    ):
        assert dev1({"operation": operation, "database": "dev", "table": "dog"}, 403) == {
            "error": FORBIDDEN,
            "unauthorized_access": [f"Operation '{internal}' is restricted to 'super_user' roles"],
            "invalid_schema_items": [],
        }
    # describe_* show only the tables the role has
    assert list(dev1({"operation": "describe_all"})) == ["dev"]
    assert list(dev1({"operation": "describe_database", "database": "dev"})) == ["dog"]
    assert dev1({"operation": "describe_table", "database": "dev", "table": "breed"}, 403) == {
        "error": FORBIDDEN,
        "unauthorized_access": [],
        "invalid_schema_items": ["Table 'dev.breed' does not exist"],
    }
    # nothing was deleted by the refused request
    assert dogs(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1], "get_attributes": ["id"]}
    ) == [{"id": 1}]


def test_user_and_role_changes_are_audited(op):
    op({"operation": "add_role", "role": "developer", "permission": DEV_PERMISSION})
    op({"operation": "add_user", "role": "developer", "username": "dev1", "password": "secret-pw"})
    op({"operation": "alter_user", "username": "dev1", "password": "other-secret"})
    op({"operation": "drop_user", "username": "dev1"})
    entries = op({"operation": "read_audit_log"})
    assert [e["type"] for e in entries] == ["add_role", "add_user", "alter_user", "drop_user"]
    assert all(e["data"]["by"] == "admin" for e in entries)
    assert entries[2]["data"]["password_changed"] is True
    assert "secret" not in str(entries)
    assert [
        e["type"]
        for e in op({"operation": "read_audit_log", "search_type": "type", "search_values": ["drop_user"]})
    ] == ["drop_user"]
    times = [e["time"] for e in entries]
    assert times == sorted(times)
    window = op(
        {"operation": "read_audit_log", "search_type": "timestamp", "search_values": [times[1], times[2]]}
    )
    assert [e["type"] for e in window] == ["add_user", "alter_user"]
    assert len(op({"operation": "read_audit_log", "search_type": "username", "search_values": ["dev1"]})) == 3
    assert len(op({"operation": "read_audit_log", "limit": 2})) == 2
    assert op({"operation": "read_audit_log", "search_type": "bogus"}, 400) == {
        "error": "'search_type' must be one of timestamp, type, username"
    }
