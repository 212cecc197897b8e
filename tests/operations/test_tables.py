"""Databases, tables and attributes through the real app (HarperDB's messages and shapes)."""

from __future__ import annotations

import io
import tarfile

import pytest

from gateway.storage.rocksdb import open_rocksdb
from tests.conftest import make_client
from tests.operations.conftest import DOGS
from tests.support.postgres import store_overrides


def test_create_and_drop_database(op):
    assert op({"operation": "create_database", "database": "dev"}) == {
        "message": "database 'dev' successfully created"
    }
    assert op({"operation": "create_database", "database": "dev"}, 400) == {
        "error": "database 'dev' already exists"
    }
    assert op({"operation": "describe_all"}) == {"dev": {}}
    assert op({"operation": "drop_database", "database": "dev"}) == {"message": "successfully deleted 'dev'"}
    assert op({"operation": "drop_database", "database": "dev"}, 404) == {
        "error": "database 'dev' does not exist"
    }
    # HarperDB's deprecated spellings
    assert (
        op({"operation": "create_schema", "schema": "old"})["message"]
        == "database 'old' successfully created"
    )
    assert op({"operation": "describe_schema", "schema": "old"}) == {}
    assert op({"operation": "drop_schema", "schema": "old"}) == {"message": "successfully deleted 'old'"}


def test_create_table_messages(op):
    op({"operation": "create_database", "database": "dev"})
    assert op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"}) == {
        "message": "table 'dev.dog' successfully created."
    }
    assert op({"operation": "create_table", "schema": "dev", "table": "breed", "hash_attribute": "id"}) == {
        "message": "table 'dev.breed' successfully created."
    }
    assert op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"}, 400) == {
        "error": "Table 'dog' already exists in 'dev'"
    }
    assert op({"operation": "create_table", "database": "dev", "table": "nokey"}, 400) == {
        "error": "'primary_key' is required"
    }
    assert op({"operation": "create_table", "database": "dev", "primary_key": "id"}, 400) == {
        "error": "'table' is required"
    }
    assert op({"operation": "create_table", "database": "dev", "table": "a/b", "primary_key": "id"}, 400) == {
        "error": "'table' cannot include backticks, forward slashes or control characters"
    }
    # a table in a database that does not exist yet creates the database
    op({"operation": "create_table", "database": "fresh", "table": "t", "primary_key": "key"})
    assert op({"operation": "describe_table", "database": "fresh", "table": "t"})["hash_attribute"] == "key"


def test_describe_shapes(dogs):
    table = dogs({"operation": "describe_table", "database": "dev", "table": "dog"})
    assert list(table) == [
        "schema",
        "name",
        "hash_attribute",
        "audit",
        "schema_defined",
        "attributes",
        "db_size",
        "sources",
        "record_count",
        "table_size",
        "db_audit_size",
        "last_updated_record",
    ]
    assert table["schema"] == "dev" and table["name"] == "dog" and table["hash_attribute"] == "id"
    assert table["schema_defined"] is False and table["sources"] == [] and table["record_count"] == len(DOGS)
    assert table["attributes"][:3] == [
        {"attribute": "id", "is_primary_key": True},
        {"attribute": "__createdtime__", "indexed": True},
        {"attribute": "__updatedtime__", "indexed": True},
    ]
    names = [a["attribute"] for a in table["attributes"][3:]]
    assert sorted(names) == ["age", "breed_id", "dog_name", "owner_name", "weight_lbs"]
    assert all(a["indexed"] for a in table["attributes"][1:])
    assert isinstance(table["last_updated_record"], float) and table["db_size"] >= table["table_size"] >= 0
    database = dogs({"operation": "describe_database", "database": "dev"})
    assert list(database) == ["dog", "breed"]  # creation order
    assert database["dog"]["attributes"] == table["attributes"]
    everything = dogs({"operation": "describe_all"})
    assert list(everything) == ["dev"]  # the system database is hidden
    assert everything["dev"]["breed"]["record_count"] == 2
    empty = dogs({"operation": "create_table", "database": "dev", "table": "empty", "primary_key": "id"})
    assert empty == {"message": "table 'dev.empty' successfully created."}
    assert "last_updated_record" not in dogs(
        {"operation": "describe_table", "database": "dev", "table": "empty"}
    )


def test_describe_missing(op):
    assert op({"operation": "describe_table", "table": "dog"}, 404) == {
        "error": "database 'data' does not exist"
    }
    op({"operation": "create_database", "database": "dev"})
    assert op({"operation": "describe_table", "database": "dev", "table": "nope"}, 404) == {
        "error": "Table 'dev.nope' does not exist"
    }
    assert op({"operation": "describe_database", "database": "nodb"}, 404) == {
        "error": "database 'nodb' does not exist"
    }


def test_drop_table(dogs):
    assert dogs({"operation": "drop_table", "database": "dev", "table": "breed"}) == {
        "message": "successfully deleted table 'dev.breed'"
    }
    assert dogs({"operation": "drop_table", "database": "dev", "table": "breed"}, 404) == {
        "error": "Table 'dev.breed' does not exist"
    }
    assert list(dogs({"operation": "describe_database", "database": "dev"})) == ["dog"]


def test_attributes(dogs):
    assert dogs(
        {"operation": "create_attribute", "database": "dev", "table": "dog", "attribute": "color"}
    ) == {"message": "attribute 'dev.dog.color' successfully created."}
    assert dogs(
        {"operation": "create_attribute", "database": "dev", "table": "dog", "attribute": "color"}, 400
    ) == {"error": "attribute 'color' already exists in dev.dog"}
    got = dogs(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1], "get_attributes": ["*"]}
    )
    assert "color" not in got[0]
    named = dogs(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "dog",
            "ids": [1],
            "get_attributes": ["color"],
        }
    )
    assert named == [{"color": None}]
    assert dogs({"operation": "drop_attribute", "database": "dev", "table": "dog", "attribute": "age"}) == {
        "message": "successfully deleted attribute 'age'"
    }
    assert dogs({"operation": "drop_attribute", "database": "dev", "table": "dog", "attribute": "nope"}) == {
        "message": "successfully deleted attribute 'nope'"
    }
    got = dogs(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1], "get_attributes": ["*"]}
    )
    assert "age" not in got[0]
    described = dogs({"operation": "describe_table", "database": "dev", "table": "dog"})
    assert "age" not in [a["attribute"] for a in described["attributes"]]
    assert dogs(
        {"operation": "drop_attribute", "database": "dev", "table": "dog", "attribute": "id"}, 400
    ) == {"error": "cannot drop the primary key attribute 'id' of dev.dog"}
    # a dropped attribute that is written again comes back, indexed
    dogs({"operation": "update", "database": "dev", "table": "dog", "records": [{"id": 2, "age": 11}]})
    found = dogs(
        {
            "operation": "search_by_value",
            "database": "dev",
            "table": "dog",
            "attribute": "age",
            "value": 11,
            "get_attributes": ["id"],
        }
    )
    assert found == [{"id": 2}]


def test_schema_defined_table(op):
    created = op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "typed",
            "attributes": [
                {"name": "id", "type": "ID", "isPrimaryKey": True},
                {"name": "age", "type": "Int", "indexed": True},
                {"name": "name", "type": "String"},
            ],
        }
    )
    assert created == {"message": "table 'dev.typed' successfully created."}
    table = op({"operation": "describe_table", "database": "dev", "table": "typed"})
    assert table["schema_defined"] is True
    assert table["attributes"] == [
        {"attribute": "id", "is_primary_key": True, "type": "ID"},
        {"attribute": "age", "indexed": True, "type": "Int"},
        {"attribute": "name", "indexed": False, "type": "String"},
    ]
    bad = op(
        {
            "operation": "insert",
            "database": "dev",
            "table": "typed",
            "records": [{"id": 1, "age": "notanint"}],
        },
        400,
    )
    assert bad == {
        "error": 'Value "notanint" in property age must be an integer (from -2147483648 to 2147483647)'
    }
    too_big = op(
        {"operation": "insert", "database": "dev", "table": "typed", "records": [{"id": 1, "age": 2**31}]},
        400,
    )
    assert too_big == {
        "error": "Value 2147483648 in property age must be an integer (from -2147483648 to 2147483647)"
    }
    ok = op(
        {
            "operation": "insert",
            "database": "dev",
            "table": "typed",
            "records": [{"id": 1, "age": 3, "name": "x", "extra": {"a": 1}}, {"id": 2, "age": None}],
        }
    )
    assert ok["inserted_hashes"] == [1, 2]
    rows = op(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "typed",
            "ids": [1],
            "get_attributes": ["*"],
        }
    )
    assert rows == [
        {"id": 1, "age": 3, "name": "x", "extra": {"a": 1}}
    ]  # no metadata on schema-defined tables
    # the extra property is stored but not indexed
    extra = [
        a for a in op({"operation": "describe_table", "database": "dev", "table": "typed"})["attributes"]
    ]
    assert {"attribute": "extra", "indexed": False} in extra
    assert op(
        {"operation": "update", "database": "dev", "table": "typed", "records": [{"id": 2, "name": 5}]}, 400
    ) == {"error": "Value 5 in property name must be a string"}
    unknown_type = op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "t2",
            "primary_key": "id",
            "attributes": [{"name": "x", "type": "Blobby"}],
        },
        400,
    )
    assert unknown_type == {
        "error": "unknown type 'Blobby' for attribute 'x'; known types: "
        "Int, Long, BigInt, Float, Number, String, Boolean, Date, ID, Any, Object, Array"
    }


def test_system_database_is_refused(op):
    for body in (
        {"operation": "describe_database", "database": "system"},
        {"operation": "describe_table", "database": "system", "table": "hdb_user"},
        {
            "operation": "search_by_id",
            "database": "system",
            "table": "hdb_user",
            "ids": ["admin"],
            "get_attributes": ["*"],
        },
        {"operation": "insert", "database": "system", "table": "hdb_user", "records": [{"username": "x"}]},
        {"operation": "delete", "schema": "system", "table": "hdb_user", "ids": ["admin"]},
        {"operation": "drop_database", "database": "system"},
        {"operation": "create_table", "database": "system", "table": "x", "primary_key": "id"},
        {"operation": "get_backup", "database": "system"},
    ):
        answer = op(body, 403)
        assert answer == {
            "error": "database 'system' is reserved for the gateway's own tables and cannot be used by operations"
        }
    assert op({"operation": "list_users"})[0]["username"] == "admin"  # still there


def test_expiration(op):
    op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "cache",
            "primary_key": "id",
            "expiration": 1,
        }
    )
    assert op({"operation": "describe_table", "database": "dev", "table": "cache"})["expiration"] == 1
    assert op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "c2",
            "primary_key": "id",
            "expiration": -1,
        },
        400,
    ) == {"error": f"'expiration' must be a positive number of seconds (at most {2**53})"}


def test_get_backup_on_postgres_names_pg_dump(dogs, backend):
    if backend != "postgres":
        pytest.skip("the embedded store makes backups (the test below)")
    answer = dogs({"operation": "get_backup", "database": "dev"}, 400)
    assert "pg_dump --schema=" in answer["error"] and "pg_restore" in answer["error"]
    assert dogs({"operation": "get_backup", "database": "nope"}, 404) == {
        "error": "database 'nope' does not exist"
    }


def test_get_backup_holds_only_that_database(dogs, root, tmp_path, backend):
    if backend == "postgres":
        pytest.skip("a PostgreSQL store is backed up with pg_dump (the test above)")
    dogs({"operation": "create_database", "database": "other"})
    dogs({"operation": "create_table", "database": "other", "table": "secret_table", "primary_key": "id"})
    dogs(
        {
            "operation": "insert",
            "database": "other",
            "table": "secret_table",
            "records": [{"id": "zz-marker"}],
        }
    )
    response = dogs.raw({"operation": "get_backup", "database": "dev"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-tar"
    assert "attachment" in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        names = tar.getnames()
        assert all(n.startswith("dev/") for n in names) and "dev/CURRENT" in names
        tar.extractall(tmp_path / "restored", filter="data")
    blob = b"".join((tmp_path / "restored" / "dev" / n.split("/", 1)[1]).read_bytes() for n in names)
    assert b"admin" not in blob and b"scrypt$" not in blob and b"zz-marker" not in blob
    restored = open_rocksdb(tmp_path / "restored" / "dev")
    try:
        assert restored.catalog.list_databases() == ["dev"]
        assert restored.records.get("dev", "dog", 1)["dog_name"] == "Penny"
        assert restored.catalog.count("dev", "dog") == len(DOGS)
    finally:
        restored.close()
    assert not any((root / "tmp").iterdir())  # the work directory is removed after the response
    assert dogs({"operation": "get_backup", "database": "nope"}, 404) == {
        "error": "database 'nope' does not exist"
    }


def test_restart_keeps_tables_and_records(root, backend):
    with make_client(root, **store_overrides(backend, root)) as client:
        from tests.conftest import ADMIN_AUTH

        def op(body):
            response = client.post("/", json=body, headers=ADMIN_AUTH)
            assert response.status_code == 200, response.text
            return response.json()

        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        op({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
        op({"operation": "drop_attribute", "database": "dev", "table": "dog", "attribute": "weight_lbs"})
    with make_client(root, **store_overrides(backend, root)) as client:
        answer = client.post(
            "/",
            json={
                "operation": "search_by_value",
                "database": "dev",
                "table": "dog",
                "attribute": "owner_name",
                "value": "Kyle",
                "get_attributes": ["id", "dog_name"],
            },
            headers=ADMIN_AUTH,
        ).json()
        assert answer == [
            {"id": 1, "dog_name": "Penny"},
            {"id": 2, "dog_name": "Pepper"},
            {"id": 3, "dog_name": "Kato"},
        ]
        described = client.post(
            "/", json={"operation": "describe_table", "database": "dev", "table": "dog"}, headers=ADMIN_AUTH
        ).json()
        assert "weight_lbs" not in [a["attribute"] for a in described["attributes"]]
