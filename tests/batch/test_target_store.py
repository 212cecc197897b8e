"""The engine's TargetStore over the storage ports (RocksDB): indexed lookups, the commit buffer, oldest first.

The storage ports it writes through are covered backend by backend in tests/storage/contract.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Model, StoreError, TargetWrite, ports
from engine.lookups import find_by_code
from gateway.imports.target import ModelTargetStore, generated_key_tables, value_matches
from gateway.storage.keys import encode_key
from gateway.storage.ports import Records, Storage
from gateway.storage.records import AttributeInfo
from gateway.storage.rocksdb import open_rocksdb


class CountingRecords:
    """The real Records port, counting full-table scans."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self.scans = 0

    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        self.scans += 1
        return self._records.scan(database, table)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)


class CountingStore(Storage):
    records: CountingRecords


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    opened = open_rocksdb(tmp_path / "db")
    counting = CountingStore(**{f.name: getattr(opened, f.name) for f in dataclasses.fields(opened)})
    counting.records = CountingRecords(opened.records)
    counting.catalog.create_table("m", "person", "id")
    counting.catalog.create_table("m", "contact", "id")
    counting.catalog.create_table("m", "fixed", "id", attributes=[AttributeInfo("code", False)])
    yield counting
    counting.close()


CODED: dict[str, Any] = {
    "name": "test:coded",
    "database": "test_coded",
    "destinations": [
        {"name": "profile", "kind": "object", "table": "profile", "names": {"code": {"type": "text"}}},
        {"name": "book", "kind": "object", "table": "book", "names": {"code": {"type": "text"}}},
    ],
}


def plain(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record without the store's metadata (the adapter reads records as stored)."""
    return None if record is None else {k: v for k, v in record.items() if not k.startswith("__")}


def test_value_matches() -> None:
    assert value_matches("a", "a") and value_matches(["x", "a"], "a")
    assert not value_matches(1, True) and not value_matches([1], True) and not value_matches("5", 5)
    assert value_matches(5, 5.0)


def test_find_uses_the_index_and_orders_oldest_first(store: CountingStore) -> None:
    for i, email in enumerate(["b@x", "a@x", "b@x"]):
        store.records.write("m", "person", [{"id": f"p{i}", "email": [email, "shared@x"], "n": i}], "insert")
    target = ModelTargetStore(store, "m")
    store.records.scans = 0
    found = target.find("person", "email", "b@x")
    assert [r["id"] for r in found] == ["p0", "p2"]
    assert [r["id"] for r in target.find("person", "email", "shared@x")] == ["p0", "p1", "p2"]
    assert target.find("person", "n", True) == []
    assert target.find("person", "never_written", "x") == []
    assert store.records.scans == 0
    assert [r["__createdtime__"] for r in found] == sorted(r["__createdtime__"] for r in found)
    assert [plain(r) for r in target.find("person", "id", "p1")] == [
        {"id": "p1", "email": ["a@x", "shared@x"], "n": 1}
    ]


def test_code_to_ref_takes_the_oldest_record_of_any_table(tmp_path: Path) -> None:
    """haplo:code-to-ref (haplo-import.md §6.3): the first record in creation order across the model's tables."""
    now = [1_000.0]
    storage = open_rocksdb(tmp_path / "db", clock=lambda: now[0])
    try:
        model = Model.from_json(CODED)
        for dest in model.stored_destinations:
            storage.catalog.create_table(model.database, str(dest.table), dest.primary_key)
        storage.records.write(model.database, "book", [{"id": "b-old", "code": "x:one"}], "insert")
        now[0] += 1
        storage.records.write(model.database, "profile", [{"id": "p-new", "code": "x:one"}], "insert")
        storage.records.write(model.database, "profile", [{"id": "p-two", "code": "x:two"}], "insert")
        now[0] += 1
        storage.records.write(model.database, "book", [{"id": "b-two", "code": "x:two"}], "insert")
        target = ModelTargetStore(storage, model.database)
        destinations = model.stored_destinations  # profile comes first in the model
        assert [d.table for d in destinations] == ["profile", "book"]
        assert find_by_code(target, destinations, "x:one") == "b-old"
        assert find_by_code(target, destinations, "x:two") == "p-two"
    finally:
        storage.close()


def test_find_scans_unindexed_attributes(store: CountingStore) -> None:
    store.records.write("m", "fixed", [{"id": 1, "code": "A"}, {"id": 2, "code": ["B", "A"]}], "insert")
    target = ModelTargetStore(store, "m")
    assert sorted(r["id"] for r in target.find("fixed", "code", "A")) == [1, 2]
    assert store.records.scans == 1
    assert target.find("nope", "code", "A") == [] and target.get("nope", 1) is None


def test_commit_is_atomic_across_tables(store: CountingStore) -> None:
    store.records.write("m", "contact", [{"id": "c1", "person": "old"}], "insert")
    target = ModelTargetStore(store, "m")
    good = TargetWrite("person", "id", {"id": "p9", "title": "T"}, True)
    clash = TargetWrite("contact", "id", {"id": "c1", "person": "p9"}, True)
    with pytest.raises(StoreError, match="already exists"):
        target.commit([good, clash])
    assert store.records.get("m", "person", "p9") is None
    assert store.records.get("m", "contact", "c1")["person"] == "old"
    target.commit([good, TargetWrite("contact", "id", {"id": "c2", "person": "p9"}, True)])
    assert store.records.get("m", "person", "p9") is None  # buffered until the flush
    assert target.flush() == 1
    assert store.records.get("m", "person", "p9")["title"] == "T"
    assert store.records.get("m", "contact", "c2")["person"] == "p9"
    replaced = TargetWrite("person", "id", {"id": "p9", "title": "U"}, False)
    created = store.records.get("m", "person", "p9")["__createdtime__"]
    target.commit([replaced])
    target.flush()
    assert store.records.get("m", "person", "p9")["title"] == "U"
    assert store.records.get("m", "person", "p9")["__createdtime__"] == created
    assert target.committed == 2


def test_dry_run_adapter_refuses_writes(store: CountingStore) -> None:
    target = ModelTargetStore(store, "m", read_only=True)
    with pytest.raises(StoreError):
        target.commit([TargetWrite("person", "id", {"id": "p1"}, True)])
    assert store.records.get("m", "person", "p1") is None


# -- the commit buffer's reads ---------------------------------------------------------


def buffered(store: CountingStore) -> ModelTargetStore:
    return ModelTargetStore(store, "m", flush_records=10_000, flush_seconds=3600.0)


def test_pending_records_join_index_lookups_in_the_stores_order(store: CountingStore) -> None:
    store.records.write("m", "person", [{"id": "s1", "email": ["a@x"], "n": 1}], "insert")
    store.records.write("m", "person", [{"id": "s2", "email": ["b@x"], "n": 2}], "insert")
    target = buffered(store)
    target.commit([TargetWrite("person", "id", {"id": "p1", "email": ["a@x", "c@x"], "n": 3}, True)])
    moved = target.get("person", "s2")
    assert plain(moved) == {"id": "s2", "email": ["b@x"], "n": 2}
    target.commit([TargetWrite("person", "id", {**moved, "email": ["a@x"]}, False)])  # b@x -> a@x
    target.commit([TargetWrite("person", "id", {"id": "p0", "email": "a@x", "n": 4}, True)])
    store.records.scans = 0
    before = {value: target.find("person", "email", value) for value in ("a@x", "b@x", "c@x")}
    assert [r["id"] for r in before["a@x"]] == ["s1", "s2", "p1", "p0"]  # oldest first; s2 kept its age
    assert before["b@x"] == [] and [r["id"] for r in before["c@x"]] == ["p1"]
    assert plain(target.get("person", "p1")) == {"id": "p1", "email": ["a@x", "c@x"], "n": 3}
    assert [plain(r) for r in target.find("person", "id", "p0")] == [{"id": "p0", "email": "a@x", "n": 4}]
    assert (
        store.records.scans == 0 and store.records.get("m", "person", "p1") is None
    )  # all served with the buffer
    assert target.flush() == 3
    after = {value: target.find("person", "email", value) for value in ("a@x", "b@x", "c@x")}
    assert after == before
    assert [v for v, _ in store.records.index_items("m", "person", "email")] == ["a@x"] * 4 + ["c@x"]


def test_other_reads_flush_first(store: CountingStore) -> None:
    store.records.write("m", "fixed", [{"id": 1, "code": "A"}], "insert")
    target = buffered(store)
    target.commit([TargetWrite("fixed", "id", {"id": 2, "code": "A"}, True)])
    assert [r["id"] for r in target.find("fixed", "code", "A")] == [1, 2]  # not indexed: a scan
    assert store.records.get("m", "fixed", 2) is not None and target.committed == 1
    target.commit([TargetWrite("person", "id", {"id": "p", "n": 1.5}, True)])
    assert [r["id"] for r in target.scan("person")] == ["p"] and target.committed == 2
    target.commit([TargetWrite("person", "id", {"id": "q", "n": [1]}, True)])
    assert target.find("person", "never_written", "x") == [] and target.committed == 2  # no flush needed
    assert target.find("person", "n", {"no": "index"}) == [] and target.committed == 3


def test_commit_checks_each_record_like_write_many(store: CountingStore) -> None:
    target = buffered(store)
    target.commit([TargetWrite("person", "id", {"id": "a"}, True)])
    with pytest.raises(StoreError, match="a record with id \"a\" already exists in 'person'"):
        target.commit([TargetWrite("person", "id", {"id": "a", "x": 1}, True)])
    with pytest.raises(StoreError, match="invalid primary key value"):
        target.commit(
            [TargetWrite("person", "id", {"id": "b"}, True), TargetWrite("person", "id", {"id": [1]}, True)]
        )
    with pytest.raises(StoreError, match="does not exist"):
        target.commit([TargetWrite("nowhere", "id", {"id": "c"}, True)])
    assert target.get("person", "b") is None
    target.commit([TargetWrite("person", "id", {"id": "a", "y": 2, "__createdtime__": 1}, False)])
    assert target.flush() == 2
    stored = store.records.get("m", "person", "a")
    assert stored is not None and stored["y"] == 2 and "x" not in stored and stored["__createdtime__"] != 1
    assert store.catalog.table("m", "person").attributes["y"].indexed  # registered as write() would


def test_a_new_generated_key_record_is_stored_as_the_general_path_stores_it(store: CountingStore) -> None:
    """The one-write commit into a table with generated keys (no read, one copy) keeps every rule."""
    store.records.write("m", "person", [{"id": "seed", "email": ["e@x"], "n": 0, "name": {}}], "insert")
    store.clock = lambda: 1234.5  # one stamp for both paths
    fast = ModelTargetStore(store, "m", generated_keys={"person"}, flush_records=10_000, flush_seconds=3600.0)
    general = buffered(store)
    email = ["a@x", "b@x"]
    record = {"id": "f1", "email": email, "n": 1, "name": {"first": "Jo"}}
    assert fast.commit([TargetWrite("person", "id", record, True)]) == [ports.NEW]
    assert general.commit([TargetWrite("person", "id", {**record, "id": "g1"}, True)]) == [ports.NEW]
    email.append("later@x")  # the engine's list is not the stored one
    fast_entry, general_entry = (
        fast.buffer.tables["person"][encode_key("f1")],
        general.buffer.tables["person"][encode_key("g1")],
    )
    assert fast_entry.fresh and not general_entry.fresh
    assert fast_entry.raw == general_entry.raw.replace(b'"g1"', b'"f1"')
    assert fast_entry.record == {**general_entry.record, "id": "f1"} and fast_entry.record["email"] == [
        "a@x",
        "b@x",
    ]
    assert plain(fast.get("person", "f1")) == {
        "id": "f1",
        "email": ["a@x", "b@x"],
        "n": 1,
        "name": {"first": "Jo"},
    }
    with pytest.raises(StoreError, match="already exists"):  # a pending key takes the general path
        fast.commit([TargetWrite("person", "id", {"id": "f1"}, True)])
    fast.commit([TargetWrite("person", "id", {"id": "f2", "new_attribute": 2}, True)])  # registers it
    assert fast.flush() == 2 and general.flush() == 1
    assert store.catalog.table("m", "person").attributes["new_attribute"].indexed
    assert store.records.get("m", "person", "f1")["__createdtime__"] == 1234500.0
    assert [k for _, k in store.records.index_items("m", "person", "email")] == [
        "f1",
        "g1",
        "f1",
        "g1",
        "seed",
    ]


def test_generated_key_tables() -> None:
    from engine import Model
    from tests.batch.test_buffered_commit import PROJECTS, THINGS

    assert generated_key_tables(Model.from_json(PROJECTS)) == {"project", "supervision"}
    assert generated_key_tables(Model.from_json(THINGS)) == frozenset()


# -- store methods used by the buffer ----------------------------------------------------
