"""Contract of the Catalog port: databases, tables, attributes, counts and metadata times."""

from __future__ import annotations

import threading

import pytest

from gateway.storage.errors import (
    AttributeExists,
    DatabaseExists,
    DatabaseNotFound,
    InvalidRecord,
    TableExists,
    TableNotFound,
)
from gateway.storage.ports import Storage
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, KeyRange
from tests.storage.contract.conftest import START, ManualClock, StoreFactory


def test_databases_are_created_listed_and_dropped(storage: Storage) -> None:
    catalog = storage.catalog
    assert catalog.list_databases() == []
    catalog.create_database("b")
    catalog.create_database("a")
    assert catalog.list_databases() == ["a", "b"] and catalog.has_database("a")
    with pytest.raises(DatabaseExists, match="database 'a' already exists"):
        catalog.create_database("a")
    catalog.create_table("a", "t")
    catalog.drop_database("a")
    assert catalog.list_databases() == ["b"] and not catalog.has_database("a")
    with pytest.raises(DatabaseNotFound, match="database 'a' does not exist"):
        catalog.drop_database("a")
    with pytest.raises(DatabaseNotFound):
        catalog.list_tables("a")
    with pytest.raises(DatabaseNotFound):
        catalog.table("a", "t")


def test_a_table_creates_its_database_and_has_a_dynamic_schema(storage: Storage, clock: ManualClock) -> None:
    info = storage.catalog.create_table("dev", "dog", "dog_id")
    assert storage.catalog.list_databases() == ["dev"]
    assert (info.database, info.name, info.primary_key, info.schema_defined) == (
        "dev",
        "dog",
        "dog_id",
        False,
    )
    assert info.created == START * 1000.0 and info.expiration is None
    assert set(info.attributes) == {"dog_id", CREATED, UPDATED}
    assert all(a.indexed for a in info.attributes.values())
    assert storage.catalog.table("dev", "dog") == info
    with pytest.raises(TableExists, match="Table 'dog' already exists in 'dev'"):
        storage.catalog.create_table("dev", "dog")
    with pytest.raises(TableNotFound, match="Table 'dev.cat' does not exist"):
        storage.catalog.table("dev", "cat")


def test_tables_are_listed_by_name_and_dropped(storage: Storage) -> None:
    for name in ("zebra", "ant", "mole"):
        storage.catalog.create_table("dev", name)
    storage.catalog.create_table("other", "ant")
    assert [t.name for t in storage.catalog.list_tables("dev")] == ["ant", "mole", "zebra"]
    storage.records.write("dev", "mole", [{"id": 1}], "insert")
    storage.catalog.drop_table("dev", "mole")
    assert [t.name for t in storage.catalog.list_tables("dev")] == ["ant", "zebra"]
    with pytest.raises(TableNotFound):
        storage.records.get("dev", "mole", 1)
    with pytest.raises(TableNotFound):
        storage.catalog.drop_table("dev", "mole")
    storage.catalog.create_table("dev", "mole")  # a new table of the same name starts empty
    assert list(storage.records.scan("dev", "mole")) == []
    assert [t.name for t in storage.catalog.list_tables("other")] == ["ant"]


def test_schema_defined_tables_keep_declared_types_and_indexes(storage: Storage) -> None:
    info = storage.catalog.create_table(
        "d",
        "t",
        "id",
        [
            AttributeInfo("id", True, "Int"),
            AttributeInfo("age", True, "Int"),
            AttributeInfo("name", False, "String"),
        ],
        expiration=60,
    )
    assert info.schema_defined and info.expiration == 60
    assert {n: (a.indexed, a.type) for n, a in info.attributes.items()} == {
        "id": (True, "Int"),
        "age": (True, "Int"),
        "name": (False, "String"),
    }
    assert info.declared_types() == {"id": "Int", "age": "Int", "name": "String"}
    assert storage.catalog.is_indexed("d", "t", "id") and storage.catalog.is_indexed("d", "t", "age")
    assert not storage.catalog.is_indexed("d", "t", "name")


def test_attributes_are_added_indexed_and_dropped(storage: Storage) -> None:
    catalog, records = storage.catalog, storage.records
    catalog.create_table("d", "t")
    records.write("d", "t", [{"id": 1, "a": "x", "b": 1}, {"id": 2, "a": "y"}], "insert")
    assert catalog.table("d", "t").attributes["a"].indexed  # first written: registered, indexed
    catalog.add_attribute("d", "t", "c", indexed=False)
    assert not catalog.is_indexed("d", "t", "c")
    with pytest.raises(AttributeExists, match="attribute 'c' already exists in d.t"):
        catalog.add_attribute("d", "t", "c")
    records.write("d", "t", [{"id": 1, "c": "late"}, {"id": 2, "c": ["x", "late"]}], "upsert")
    assert catalog.index_attribute("d", "t", "c") is True  # built from the stored records
    assert catalog.index_attribute("d", "t", "c") is False
    assert catalog.table("d", "t").attributes["c"].indexed
    assert list(records.index_keys("d", "t", "c", KeyRange("late", True))) == [1, 2]
    assert catalog.index_attribute("d", "t", "new") is True and catalog.is_indexed("d", "t", "new")
    assert catalog.index_attribute("d", "t", "id") is False
    catalog.drop_attribute("d", "t", "a")
    assert "a" not in catalog.table("d", "t").attributes
    assert all("a" not in r for r in records.scan("d", "t"))
    catalog.drop_attribute("d", "t", "never-there")  # nothing to do
    with pytest.raises(InvalidRecord, match="cannot drop the primary key attribute 'id'"):
        catalog.drop_attribute("d", "t", "id")
    records.write("d", "t", [{"id": 2, "a": "again"}], "update")  # a dropped attribute can come back
    assert list(records.index_keys("d", "t", "a", KeyRange("again", True))) == [2]


def test_schema_defined_tables_register_written_attributes_unindexed(storage: Storage) -> None:
    storage.catalog.create_table("d", "t", "id", [AttributeInfo("code", True, "String")])
    storage.records.write("d", "t", [{"id": 1, "code": "A", "extra": True}], "insert")
    extra = storage.catalog.table("d", "t").attributes["extra"]
    assert extra.indexed is False and extra.type is None


def test_count_size_and_last_updated(storage: Storage, clock: ManualClock) -> None:
    catalog = storage.catalog
    catalog.create_table("d", "t")
    assert catalog.count("d", "t") == 0 and catalog.last_updated("d", "t") is None
    storage.records.write("d", "t", [{"id": i, "v": "x" * 50} for i in range(100)], "insert")
    clock.advance(5)
    storage.records.write("d", "t", [{"id": 3, "v": "y"}], "update")
    storage.records.delete("d", "t", [7, 8])
    assert catalog.count("d", "t") == 98
    assert catalog.size_bytes("d", "t") > 0
    assert catalog.last_updated("d", "t") == (START + 5) * 1000.0
    catalog.create_table("d", "typed", "id", [AttributeInfo("v", False, "String")])
    storage.records.write("d", "typed", [{"id": 1, "v": "x"}], "insert")
    assert catalog.last_updated("d", "typed") is None  # schema-defined tables keep no times


def test_the_catalog_survives_a_restart(factory: StoreFactory) -> None:
    first = factory.open()
    first.catalog.create_table("d", "t", "key")
    first.catalog.create_table("d", "typed", "id", [AttributeInfo("n", False, "Int")], expiration=30)
    first.records.write("d", "t", [{"key": "a", "extra": 1}], "insert")
    first.catalog.add_attribute("d", "t", "quiet", indexed=False)
    first.close()
    again = factory.open()
    assert again.catalog.list_databases() == ["d"]
    t = again.catalog.table("d", "t")
    assert t.primary_key == "key" and t.attributes["extra"].indexed and not t.attributes["quiet"].indexed
    typed = again.catalog.table("d", "typed")
    assert typed.schema_defined and typed.expiration == 30 and typed.attributes["n"].type == "Int"
    assert again.records.get("d", "t", "a") is not None


def test_counts_are_exact_after_inserts_upserts_and_deletes(storage: Storage) -> None:
    catalog = storage.catalog
    catalog.create_table("d", "t")
    rows = [{"id": i, "v": i % 7} for i in range(3_000)]
    assert storage.chunks.load_chunk("d", "t", [dict(r) for r in rows], "insert") == (3_000, 0)
    assert storage.chunks.load_chunk("d", "t", [dict(r) for r in rows], "upsert") == (3_000, 0)
    storage.records.write("d", "t", rows[:500], "upsert")
    storage.records.write("d", "t", rows[:10], "replace")
    storage.records.write("d", "t", [{"id": i} for i in range(2_990, 3_010)], "insert")
    assert catalog.count("d", "t") == 3_010
    storage.records.delete("d", "t", [0, 1, 1, 5_000])
    storage.records.write_many(
        [("d", "t", [{"id": "s"}], "insert"), ("d", "t", [{"id": "s", "x": 1}], "upsert")]
    )
    storage.imports.write_records("d", {"t": {}})
    assert catalog.count("d", "t") == sum(1 for _ in storage.records.scan("d", "t")) == 3_009


def test_counts_stay_exact_under_concurrent_writers(storage: Storage) -> None:
    storage.catalog.create_table("d", "t")
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for round_ in range(30):
                keys = [(offset + round_ * 7 + i) % 400 for i in range(40)]
                storage.records.write("d", "t", [{"id": k, "w": offset} for k in keys], "upsert")
                storage.records.delete("d", "t", keys[::3])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 97,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert storage.catalog.count("d", "t") == sum(1 for _ in storage.records.scan("d", "t"))


def test_counts_survive_a_restart_and_drops(factory: StoreFactory) -> None:
    first = factory.open()
    first.catalog.create_table("d", "t")
    first.catalog.create_table("d", "gone")
    first.records.write("d", "t", [{"id": i} for i in range(25)], "insert")
    first.records.write("d", "gone", [{"id": 1}], "insert")
    first.catalog.drop_table("d", "gone")
    first.close()
    again = factory.open()
    assert again.catalog.count("d", "t") == 25
    again.catalog.create_table("d", "gone")
    assert again.catalog.count("d", "gone") == 0


def test_a_table_that_expires_records_counts_the_live_ones(storage: Storage, clock: ManualClock) -> None:
    storage.catalog.create_table("d", "t", expiration=10)
    storage.records.write("d", "t", [{"id": 1}, {"id": 2}], "insert")
    clock.advance(6)
    storage.records.write("d", "t", [{"id": 3}], "insert")
    assert storage.catalog.count("d", "t") == 3
    clock.advance(6)
    assert storage.catalog.count("d", "t") == 1
