"""RocksRecordStore on a real RocksDB in a temp dir: writes, indexes, schema, restart, lock."""

from __future__ import annotations

import contextlib

import pytest

from gateway.storage.errors import InvalidRecord, StoreLocked, TableNotFound
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, KeyRange
from gateway.storage.rocks import RocksRecordStore


@pytest.fixture
def store(tmp_path):
    opened = RocksRecordStore(tmp_path / "db")
    yield opened
    opened.close()


def index(store, attribute, **key_range):
    return list(store.index_keys("d", "t", attribute, KeyRange(**key_range)))


def test_write_modes(store):
    store.create_table("d", "t")
    first = store.write(
        "d", "t", [{"id": 1, "a": "x"}, {"id": 1, "a": "dup"}, {"id": "1", "a": "y"}], "insert"
    )
    assert (first.written, first.skipped) == ([1, "1"], [1])
    assert store.write("d", "t", [{"id": 1, "b": 2}, {"id": 9}], "update").skipped == [9]
    assert store.get("d", "t", 1) == {
        "id": 1,
        "a": "x",
        "b": 2,
        CREATED: store.get("d", "t", 1)[CREATED],
        UPDATED: store.get("d", "t", 1)[UPDATED],
    }
    store.write("d", "t", [{"id": 1, "c": 3}], "replace")
    assert "a" not in store.get("d", "t", 1)
    with pytest.raises(InvalidRecord):
        store.write("d", "t", [{"a": 1}], "update")


def test_index_follows_updates_and_deletes(store):
    store.create_table("d", "t")
    store.write("d", "t", [{"id": 1, "a": "x", "tags": ["p", "q"]}, {"id": 2, "a": "x"}], "insert")
    assert index(store, "a", equals="x", has_equals=True) == [1, 2]
    assert index(store, "tags", equals="q", has_equals=True) == [1]
    store.write("d", "t", [{"id": 1, "a": "y", "tags": ["p"]}], "update")
    assert index(store, "a", equals="x", has_equals=True) == [2]
    assert index(store, "a", equals="y", has_equals=True) == [1]
    assert index(store, "tags", equals="q", has_equals=True) == []
    store.write("d", "t", [{"id": 2, "a": "x"}], "upsert")  # unchanged value: entry kept
    assert index(store, "a", equals="x", has_equals=True) == [2]
    assert store.delete("d", "t", [2, 3]).skipped == [3]
    assert index(store, "a", prefix="") == [1]
    assert list(store.index_items("d", "t", "a")) == [("y", 1)]


def test_ranges(store):
    store.create_table("d", "t")
    store.write(
        "d", "t", [{"id": i, "n": i, "s": f"v{i}"} for i in range(10)] + [{"id": "x", "n": "5"}], "insert"
    )
    assert index(store, "n", lower=3, upper=5) == [3, 4, 5]
    assert index(store, "n", lower=7, lower_inclusive=False) == [8, 9]
    assert index(store, "n", upper=2, upper_inclusive=False) == [0, 1]
    assert index(store, "n", lower="0") == ["x"]
    assert index(store, "s", prefix="v1") == [1]


def test_schema_defined_types_and_nothing_written(store):
    store.create_table(
        "d", "t", "id", [AttributeInfo("age", True, "Int"), AttributeInfo("name", False, "String")]
    )
    with pytest.raises(InvalidRecord, match="must be an integer"):
        store.write("d", "t", [{"id": 1, "age": 3}, {"id": 2, "age": 1.5}], "insert")
    assert store.count("d", "t") == 0
    store.write("d", "t", [{"id": 1, "age": 3, "other": True}], "insert")
    assert store.get("d", "t", 1) == {"id": 1, "age": 3, "other": True}
    assert not store.is_indexed("d", "t", "name") and store.is_indexed("d", "t", "age")


def test_drop_attribute_and_restart(tmp_path):
    path = tmp_path / "db"
    store = RocksRecordStore(path)
    store.create_table("d", "t")
    store.write("d", "t", [{"id": i, "a": i % 3, "b": "x"} for i in range(30)], "insert")
    store.drop_attribute("d", "t", "a")
    updated = store.last_updated("d", "t")
    store.close()
    reopened = RocksRecordStore(path)
    try:
        assert reopened.count("d", "t") == 30
        assert "a" not in reopened.table("d", "t").attributes
        assert all("a" not in r for r in reopened.scan("d", "t"))
        assert reopened.last_updated("d", "t") == updated
        reopened.write("d", "t", [{"id": 0, "a": 7}], "update")
        assert list(reopened.index_keys("d", "t", "a", KeyRange(equals=7, has_equals=True))) == [0]
        reopened.drop_table("d", "t")
        with pytest.raises(TableNotFound):
            reopened.table("d", "t")
    finally:
        reopened.close()


def test_second_open_is_refused_naming_the_lock(store, tmp_path):
    with pytest.raises(StoreLocked, match="LOCK"):
        RocksRecordStore(tmp_path / "db")


def test_expiration_hides_old_records(store):
    store.create_table("d", "t", expiration=1)
    store.write("d", "t", [{"id": 1}], "insert")
    assert store.get("d", "t", 1) is not None
    entry = store._tables[("d", "t")]
    old = {"id": 2, CREATED: 0.0, UPDATED: 0.0}
    store.write("d", "t", [{"id": 2}], "insert")
    import orjson

    from gateway.storage import keys as K

    entry.cf[K.encode_key(2)] = orjson.dumps(old)  # a record written long ago
    assert store.get("d", "t", 2) is None
    assert [r["id"] for r in store.scan("d", "t")] == [1]
    assert store.write("d", "t", [{"id": 2, "v": 1}], "insert").written == [2]  # expired: insertable again


def test_copy_database_to(store, tmp_path):
    store.create_table("d", "t")
    store.create_table("other", "t")
    store.write("d", "t", [{"id": 1, "a": "x"}], "insert")
    store.write("other", "t", [{"id": 1}], "insert")
    target = RocksRecordStore(tmp_path / "copy")
    try:
        store.copy_database_to("d", target)
        assert target.list_databases() == ["d"]
        assert target.get("d", "t", 1)["a"] == "x"
        assert list(target.index_keys("d", "t", "a", KeyRange(equals="x", has_equals=True))) == [1]
    finally:
        target.close()


def test_writes_with_new_attributes_and_table_drops_do_not_deadlock(tmp_path) -> None:
    """Writers register attributes under their table lock while drop_table takes the metadata lock first."""
    import threading

    from gateway.storage.errors import StoreError
    from gateway.storage.rocks import RocksRecordStore

    store = RocksRecordStore(tmp_path / "db")
    stop = threading.Event()

    def writer() -> None:
        for i in range(300):
            if stop.is_set():
                return
            with contextlib.suppress(StoreError):  # the table may be gone for a moment
                store.write("dev", "busy", [{"id": i, f"attr{i}": i}], "upsert")

    def dropper() -> None:
        for _ in range(60):
            if stop.is_set():
                return
            with contextlib.suppress(StoreError):
                store.drop_table("dev", "busy")
            with contextlib.suppress(StoreError):
                store.create_table("dev", "busy")

    store.create_table("dev", "busy")
    threads = [threading.Thread(target=writer), threading.Thread(target=dropper)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stop.set()
    assert not any(thread.is_alive() for thread in threads), "a write and a drop_table deadlocked"
    store.close()


def test_a_scan_started_before_a_drop_reads_its_snapshot(tmp_path) -> None:
    """Iterators opened before drop_table finish on what they saw; later reads are TableNotFound."""
    from gateway.storage.errors import TableNotFound
    from gateway.storage.records import KeyRange
    from gateway.storage.rocks import RocksRecordStore

    store = RocksRecordStore(tmp_path / "db")
    store.create_table("dev", "dog")
    store.write("dev", "dog", [{"id": i, "name": f"n{i}"} for i in range(5)], "insert")
    records = store.scan("dev", "dog")
    keys = store.index_keys("dev", "dog", "name", KeyRange())
    assert next(records)["id"] == 0 and next(keys) == 0
    store.drop_table("dev", "dog")
    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert list(keys) == [1, 2, 3, 4]
    with pytest.raises(TableNotFound):
        store.get("dev", "dog", 1)
    with pytest.raises(TableNotFound):
        list(store.scan("dev", "dog"))
    store.close()
