"""What only the RocksDB backend has: its lock file, raw copies between stores, its on-disk layout.

Everything the ports promise is in ``tests/storage/contract`` (run on this backend too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gateway.storage import keys as K
from gateway.storage.errors import StoreLocked
from gateway.storage.ports import Storage
from gateway.storage.records import KeyRange
from gateway.storage.rocksdb import open_rocksdb
from gateway.storage.rocksdb.backup import copy_database
from gateway.storage.rocksdb.database import RocksDatabase, count_key


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    opened = open_rocksdb(tmp_path / "db")
    yield opened
    opened.close()


def test_second_open_is_refused_naming_the_lock(store: Storage, tmp_path: Path) -> None:
    with pytest.raises(StoreLocked, match="LOCK"):
        open_rocksdb(tmp_path / "db")


def test_copy_database_copies_one_database_raw(store: Storage, tmp_path: Path) -> None:
    store.catalog.create_table("d", "t")
    store.catalog.create_table("other", "t")
    store.records.write("d", "t", [{"id": 1, "a": "x"}], "insert")
    store.records.write("other", "t", [{"id": 1}], "insert")
    source = store.catalog._rocks  # type: ignore[attr-defined]  # noqa: SLF001
    target = RocksDatabase(tmp_path / "copy", source.clock)
    try:
        copy_database(source, "d", target)
        assert sorted(target.databases) == ["d"]
        copied = target.get_table("d", "t")
        assert [orjson.loads(v)["a"] for v in copied.cf.values()] == ["x"]
        assert list(copied.index_cfs["a"].keys()) == [K.encode_key("x") + K.encode_key(1)]
    finally:
        target.close()
    reopened = open_rocksdb(tmp_path / "copy")
    try:
        assert list(reopened.records.index_keys("d", "t", "a", KeyRange("x", True))) == [1]
    finally:
        reopened.close()


def test_records_are_orjson_under_order_preserving_keys(store: Storage) -> None:
    store.catalog.create_table("d", "t", "id", [])
    store.records.write("d", "t", [{"id": "k", "v": [1, "two"]}], "insert")
    entry = store.catalog._rocks.get_table("d", "t")  # type: ignore[attr-defined]  # noqa: SLF001
    assert list(entry.cf.items()) == [(K.encode_key("k"), b'{"id":"k","v":[1,"two"]}')]


def test_a_store_without_kept_counts_is_counted_once_at_open(tmp_path: Path) -> None:
    """Stores written before counts were kept get theirs counted (and kept) when opened."""
    path = tmp_path / "old"
    store = open_rocksdb(path)
    store.catalog.create_table("d", "t")
    store.records.write("d", "t", [{"id": i} for i in range(12)], "insert")
    rocks = store.catalog._rocks  # type: ignore[attr-defined]  # noqa: SLF001
    rocks.db.delete(count_key(rocks.get_table("d", "t").cf_name))  # as an older version left it
    store.close()
    reopened = open_rocksdb(path)
    try:
        assert reopened.catalog.count("d", "t") == 12
        reopened.records.write("d", "t", [{"id": 12}], "insert")
        assert reopened.catalog.count("d", "t") == 13
    finally:
        reopened.close()
    third = open_rocksdb(path)
    try:
        assert third.catalog.count("d", "t") == 13
    finally:
        third.close()
