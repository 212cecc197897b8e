"""The engine's TargetStore over RocksDB: indexed lookups, oldest-first order, atomic commits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import StoreError, TargetWrite
from gateway.imports.target import ModelTargetStore, value_matches
from gateway.storage.records import AttributeInfo
from gateway.storage.rocks import RocksRecordStore


class CountingStore(RocksRecordStore):
    """The real store, counting full-table scans."""

    scans = 0

    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        self.scans += 1
        return super().scan(database, table)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    opened = CountingStore(tmp_path / "db")
    opened.create_table("m", "person", "id")
    opened.create_table("m", "contact", "id")
    opened.create_table("m", "fixed", "id", attributes=[AttributeInfo("code", False)])
    yield opened
    opened.close()


def test_value_matches() -> None:
    assert value_matches("a", "a") and value_matches(["x", "a"], "a")
    assert not value_matches(1, True) and not value_matches([1], True) and not value_matches("5", 5)
    assert value_matches(5, 5.0)


def test_find_uses_the_index_and_orders_oldest_first(store: CountingStore) -> None:
    for i, email in enumerate(["b@x", "a@x", "b@x"]):
        store.write("m", "person", [{"id": f"p{i}", "email": [email, "shared@x"], "n": i}], "insert")
    target = ModelTargetStore(store, "m")
    store.scans = 0
    found = target.find("person", "email", "b@x")
    assert [r["id"] for r in found] == ["p0", "p2"]
    assert [r["id"] for r in target.find("person", "email", "shared@x")] == ["p0", "p1", "p2"]
    assert target.find("person", "n", True) == []
    assert target.find("person", "never_written", "x") == []
    assert store.scans == 0
    assert all("__createdtime__" not in r for r in found)
    assert target.find("person", "id", "p1") == [{"id": "p1", "email": ["a@x", "shared@x"], "n": 1}]


def test_find_scans_unindexed_attributes(store: CountingStore) -> None:
    store.write("m", "fixed", [{"id": 1, "code": "A"}, {"id": 2, "code": ["B", "A"]}], "insert")
    target = ModelTargetStore(store, "m")
    assert sorted(r["id"] for r in target.find("fixed", "code", "A")) == [1, 2]
    assert store.scans == 1
    assert target.find("nope", "code", "A") == [] and target.get("nope", 1) is None


def test_commit_is_atomic_across_tables(store: CountingStore) -> None:
    store.write("m", "contact", [{"id": "c1", "person": "old"}], "insert")
    target = ModelTargetStore(store, "m")
    good = TargetWrite("person", "id", {"id": "p9", "title": "T"}, True)
    clash = TargetWrite("contact", "id", {"id": "c1", "person": "p9"}, True)
    with pytest.raises(StoreError, match="already exists"):
        target.commit([good, clash])
    assert store.get("m", "person", "p9") is None
    assert store.get("m", "contact", "c1")["person"] == "old"
    target.commit([good, TargetWrite("contact", "id", {"id": "c2", "person": "p9"}, True)])
    assert store.get("m", "person", "p9") is None  # buffered until the flush
    assert target.flush() == 1
    assert store.get("m", "person", "p9")["title"] == "T"
    assert store.get("m", "contact", "c2")["person"] == "p9"
    replaced = TargetWrite("person", "id", {"id": "p9", "title": "U"}, False)
    created = store.get("m", "person", "p9")["__createdtime__"]
    target.commit([replaced])
    target.flush()
    assert store.get("m", "person", "p9")["title"] == "U"
    assert store.get("m", "person", "p9")["__createdtime__"] == created
    assert target.committed == 2


def test_dry_run_adapter_refuses_writes(store: CountingStore) -> None:
    target = ModelTargetStore(store, "m", read_only=True)
    with pytest.raises(StoreError):
        target.commit([TargetWrite("person", "id", {"id": "p1"}, True)])
    assert store.get("m", "person", "p1") is None


def test_write_many_rejects_bad_keys_before_writing(store: CountingStore) -> None:
    from gateway.storage.errors import InvalidRecord

    with pytest.raises(InvalidRecord):
        store.write_many(
            [("m", "person", [{"id": "ok"}], "insert"), ("m", "contact", [{"id": {"bad": 1}}], "insert")]
        )
    assert store.get("m", "person", "ok") is None
    results = store.write_many(
        [
            ("m", "person", [{"id": "a"}, {"id": "a", "x": 1}], "insert"),
            ("m", "person", [{"id": "a", "y": 2}], "update"),
        ]
    )
    assert [r.written for r in results] == [["a"], ["a"]] and results[0].skipped == ["a"]
    stored = store.get("m", "person", "a")
    assert stored is not None and stored["y"] == 2 and "x" not in stored
