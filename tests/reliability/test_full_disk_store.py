"""The RocksDB store on a device that fills up: schema changes are all or nothing, the
catalog stays consistent with the MANIFEST, and the store opens again afterwards.

The store runs on a tmpfs of its own (tests/support/small_disk.py); where a tmpfs cannot
be mounted the tests are skipped (the one machine-dependent skip, also under CI=true).
RocksDB answers a full device in several ways (failures.py): a column family that it
created in its MANIFEST while its OPTIONS file could not be written, or a write-ahead-log
append that fails. Either way the store must raise OutOfSpace and keep nothing of the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rocksdict

from gateway.storage.errors import OutOfSpace
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.rocksdb import open_rocksdb
from tests.support.small_disk import MiB, small_disk

FULL = "no space left on the device (records store)"


def column_families(path: Path) -> set[str]:
    """The column families the store's MANIFEST lists (what RocksDB needs to open it)."""
    return set(rocksdict.Rdict.list_cf(str(path)))


@pytest.mark.parametrize(
    ("leave", "indexed"),
    [
        pytest.param(0, 0, id="full: the table's first column family fails"),
        pytest.param(256 * 1024, 60, id="nearly full: fails among 60 index column families"),
    ],
)
def test_create_table_on_a_full_device_keeps_nothing_and_the_store_opens_again(
    tmp_path: Path, leave: int, indexed: int
) -> None:
    with small_disk(tmp_path, 48 * MiB) as disk:
        path = disk.root / "db"
        storage = open_rocksdb(path)
        storage.catalog.create_table("dev", "dog", "id")
        storage.records.write("dev", "dog", [{"id": 1, "name": "Penny"}], "insert")
        before = column_families(path)
        disk.fill(leave=leave)

        schema = [AttributeInfo("id", True)] + [
            AttributeInfo(f"a{i}", True, "String") for i in range(indexed)
        ]
        with pytest.raises(OutOfSpace) as refused:  # in a new database, made by create_table
            storage.catalog.create_table("zoo", "cat", "id", schema if indexed else None)
        assert str(refused.value) == FULL
        assert storage.catalog.list_databases() == ["dev"]
        assert [t.name for t in storage.catalog.list_tables("dev")] == ["dog"]
        # A new attribute needs a new index: refused whole, the schema as it was.
        disk.fill()  # the failed table's dropped families may have given some space back
        attributes = dict(storage.catalog.table("dev", "dog").attributes)
        with pytest.raises(OutOfSpace):
            storage.records.write("dev", "dog", [{"id": 2, "name": "Kato", "age": 3}], "insert")
        assert storage.catalog.table("dev", "dog").attributes == attributes
        assert storage.records.get("dev", "dog", 2) is None
        penny = storage.records.get("dev", "dog", 1)  # reads still work
        assert penny is not None and penny["name"] == "Penny"
        storage.close()  # releases the store although it cannot flush

        disk.unfill()
        storage = open_rocksdb(path)  # opens with what the MANIFEST lists; unnamed families dropped
        try:
            assert column_families(path) == before
            assert storage.catalog.list_databases() == ["dev"]
            assert [t.name for t in storage.catalog.list_tables("dev")] == ["dog"]
            storage.catalog.create_table("zoo", "cat", "id", schema if indexed else None)
            storage.records.write("dev", "dog", [{"id": 2, "name": "Kato", "age": 3}], "insert")
            assert list(storage.records.index_keys("dev", "dog", "age", KeyRange(3, True))) == [2]
        finally:
            storage.close()
        reopened = open_rocksdb(path)
        try:
            assert reopened.catalog.list_databases() == ["dev", "zoo"]
            assert [t.name for t in reopened.catalog.list_tables("zoo")] == ["cat"]
        finally:
            reopened.close()


def test_index_attribute_on_a_full_device_is_undone(tmp_path: Path) -> None:
    with small_disk(tmp_path, 48 * MiB) as disk:
        path = disk.root / "db"
        storage = open_rocksdb(path)
        try:
            storage.catalog.create_table(
                "dev", "dog", "id", [AttributeInfo("id", True), AttributeInfo("name", False)]
            )
            storage.records.write("dev", "dog", [{"id": 1, "name": "Penny"}], "insert")
            disk.fill()
            with pytest.raises(OutOfSpace):
                storage.catalog.index_attribute("dev", "dog", "name")
            assert not storage.catalog.is_indexed("dev", "dog", "name")
            assert storage.catalog.table("dev", "dog").attributes["name"].indexed is False
        finally:
            storage.close()
        disk.unfill()
        storage = open_rocksdb(path)
        try:
            assert not storage.catalog.is_indexed("dev", "dog", "name")
            assert storage.catalog.index_attribute("dev", "dog", "name")
            assert list(storage.records.index_keys("dev", "dog", "name", KeyRange("Penny", True))) == [1]
        finally:
            storage.close()
