"""Contract of the Records port: write modes, keys, ordering, index look-ups, atomic groups, times."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from gateway.storage.errors import DatabaseNotFound, InvalidRecord, StoreError, TableNotFound
from gateway.storage.ports import Storage
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, KeyRange
from tests.storage.contract.conftest import START, ManualClock, StoreFactory


def plain(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record without its metadata times."""
    if record is None:
        return None
    return {k: v for k, v in record.items() if k not in (CREATED, UPDATED)}


def keys_of(storage: Storage, attribute: str, **key_range: Any) -> list[Any]:
    return list(storage.records.index_keys("d", "t", attribute, KeyRange(**key_range)))


@pytest.fixture
def table(storage: Storage) -> Storage:
    storage.catalog.create_table("d", "t")
    return storage


def test_insert_skips_stored_keys_and_duplicates(table: Storage) -> None:
    result = table.records.write(
        "d", "t", [{"id": 1, "a": "x"}, {"id": 1, "a": "dup"}, {"id": "1", "a": "y"}], "insert"
    )
    assert (result.written, result.skipped) == ([1, "1"], [1])
    assert plain(table.records.get("d", "t", 1)) == {"id": 1, "a": "x"}
    assert table.records.write("d", "t", [{"id": 1, "a": "z"}], "insert").skipped == [1]
    assert plain(table.records.get("d", "t", 1)) == {"id": 1, "a": "x"}


def test_update_merges_and_skips_missing_keys(table: Storage) -> None:
    table.records.write("d", "t", [{"id": 1, "a": "x", "b": 1}], "insert")
    result = table.records.write("d", "t", [{"id": 1, "b": 2, "c": [1, 2]}, {"id": 9}], "update")
    assert (result.written, result.skipped) == ([1], [9])
    assert plain(table.records.get("d", "t", 1)) == {"id": 1, "a": "x", "b": 2, "c": [1, 2]}
    assert table.records.get("d", "t", 9) is None
    with pytest.raises(InvalidRecord, match="a valid hash attribute must be provided with update record"):
        table.records.write("d", "t", [{"a": 1}], "update")


def test_upsert_merges_or_inserts_and_replace_replaces(table: Storage) -> None:
    table.records.write("d", "t", [{"id": 1, "a": "x", "b": 1}], "insert")
    assert table.records.write("d", "t", [{"id": 1, "b": 5}, {"id": 2, "z": 0}], "upsert").written == [1, 2]
    assert plain(table.records.get("d", "t", 1)) == {"id": 1, "a": "x", "b": 5}
    assert plain(table.records.get("d", "t", 2)) == {"id": 2, "z": 0}
    table.records.write("d", "t", [{"id": 1, "c": 3}], "replace")
    assert plain(table.records.get("d", "t", 1)) == {"id": 1, "c": 3}
    with pytest.raises(InvalidRecord, match="a valid hash attribute must be provided"):
        table.records.write("d", "t", [{"c": 1}], "replace")


def test_missing_insert_keys_are_generated_uuids(table: Storage) -> None:
    result = table.records.write("d", "t", [{"a": 1}, {"id": "", "a": 2}, {"id": None, "a": 3}], "insert")
    assert len(result.written) == 3 and len(set(result.written)) == 3
    for key in result.written:
        assert isinstance(key, str) and len(key) == 36
        assert table.records.get("d", "t", key)["id"] == key


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": True}, "invalid primary key value true for 'id'"),
        ({"id": {"k": 1}}, "invalid primary key value {\"k\":1} for 'id'"),
        ({"id": [1]}, "invalid primary key value [1] for 'id'"),
    ],
)
def test_bad_keys_write_nothing(table: Storage, record: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRecord) as raised:
        table.records.write("d", "t", [{"id": 1}, record], "insert")
    assert str(raised.value) == message
    assert table.records.get("d", "t", 1) is None


def test_records_that_are_not_objects_write_nothing(table: Storage) -> None:
    with pytest.raises(InvalidRecord, match="each record must be an object"):
        table.records.write("d", "t", [{"id": 1}, ["id", 2]], "insert")  # type: ignore[list-item]
    assert table.catalog.count("d", "t") == 0


def test_typed_keys_keep_numbers_and_strings_apart(table: Storage) -> None:
    table.records.write("d", "t", [{"id": 5, "v": "number"}, {"id": "5", "v": "string"}], "insert")
    assert table.records.get("d", "t", 5)["v"] == "number"
    assert table.records.get("d", "t", "5")["v"] == "string"
    assert table.records.get("d", "t", 5.0)["v"] == "number"  # 5 and 5.0 are one key
    found = table.records.get_many("d", "t", ["5", 5, 6, {"odd": 1}])
    assert [plain(r) for r in found] == [{"id": "5", "v": "string"}, {"id": 5, "v": "number"}, None, None]
    assert table.records.delete("d", "t", ["5"]).written == ["5"]
    assert table.records.get("d", "t", 5) is not None


def test_scans_and_key_ranges_follow_key_order(table: Storage) -> None:
    keys = ["b", 10, -3.5, "a", 2, "A", 0, "ä", 1e15, -1e15]
    table.records.write("d", "t", [{"id": k} for k in keys], "insert")
    ordered = [r["id"] for r in table.records.scan("d", "t")]
    assert ordered == [
        -1e15,
        -3.5,
        0,
        2,
        10,
        1e15,
        "A",
        "a",
        "b",
        "ä",
    ]  # numbers first, strings by UTF-8 bytes
    assert list(table.records.index_keys("d", "t", "id", KeyRange(lower=0, upper=10))) == [0, 2, 10]
    assert list(table.records.index_keys("d", "t", "id", KeyRange(lower="a"))) == ["a", "b", "ä"]


def test_index_ranges(table: Storage) -> None:
    table.records.write(
        "d", "t", [{"id": i, "n": i, "s": f"v{i}"} for i in range(10)] + [{"id": "x", "n": "5"}], "insert"
    )
    assert keys_of(table, "n", lower=3, upper=5) == [3, 4, 5]
    assert keys_of(table, "n", lower=3, upper=5, lower_inclusive=False, upper_inclusive=False) == [4]
    assert keys_of(table, "n", lower=7, lower_inclusive=False) == [8, 9]
    assert keys_of(table, "n", upper=2, upper_inclusive=False) == [0, 1]
    assert keys_of(table, "n", lower="0") == ["x"]  # a string bound stays among strings
    assert keys_of(table, "n", equals=5, has_equals=True) == [5]
    assert keys_of(table, "n", equals="5", has_equals=True) == ["x"]
    assert keys_of(table, "s", prefix="v1") == [1]
    assert keys_of(table, "s", prefix="") == list(range(10))


def test_index_look_ups_follow_updates_deletes_and_array_elements(table: Storage) -> None:
    table.records.write("d", "t", [{"id": 1, "a": "x", "tags": ["p", "q"]}, {"id": 2, "a": "x"}], "insert")
    assert keys_of(table, "a", equals="x", has_equals=True) == [1, 2]
    assert keys_of(table, "tags", equals="q", has_equals=True) == [1]
    table.records.write("d", "t", [{"id": 1, "a": "y", "tags": ["p"]}], "update")
    assert keys_of(table, "a", equals="x", has_equals=True) == [2]
    assert keys_of(table, "a", equals="y", has_equals=True) == [1]
    assert keys_of(table, "tags", equals="q", has_equals=True) == []
    table.records.write("d", "t", [{"id": 2, "a": "x"}], "upsert")  # unchanged value: entry kept
    assert keys_of(table, "a", equals="x", has_equals=True) == [2]
    table.records.write("d", "t", [{"id": 2, "b": 1}], "replace")  # the value is gone: so is its entry
    assert keys_of(table, "a", equals="x", has_equals=True) == []
    result = table.records.delete("d", "t", [1, 3, 1])
    assert (result.written, result.skipped) == ([1], [3, 1])
    assert keys_of(table, "a", prefix="") == []
    assert list(table.records.index_items("d", "t", "b")) == [(1, 2)]


def test_index_items_pair_values_with_keys_in_value_order(table: Storage) -> None:
    table.records.write(
        "d",
        "t",
        [{"id": 3, "v": "b"}, {"id": 1, "v": "b"}, {"id": 2, "v": ["a", "c"]}, {"id": 4, "v": {"o": 1}}],
        "insert",
    )
    assert list(table.records.index_items("d", "t", "v")) == [("a", 2), ("b", 1), ("b", 3), ("c", 2)]
    assert list(table.records.index_items("d", "t", "id", KeyRange(lower=2, upper=3))) == [(2, 2), (3, 3)]
    with pytest.raises(StoreError, match="attribute 'nope' is not indexed"):
        list(table.records.index_items("d", "t", "nope"))


def test_declared_types_are_checked_before_anything_is_written(storage: Storage) -> None:
    storage.catalog.create_table(
        "d", "t", "id", [AttributeInfo("age", True, "Int"), AttributeInfo("name", False, "String")]
    )
    with pytest.raises(InvalidRecord) as raised:
        storage.records.write("d", "t", [{"id": 1, "age": 3}, {"id": 2, "age": 1.5, "name": 7}], "insert")
    assert str(raised.value) == (
        "Value 1.5 in property age must be an integer (from -2147483648 to 2147483647). "
        "Value 7 in property name must be a string"
    )
    assert storage.catalog.count("d", "t") == 0
    storage.records.write("d", "t", [{"id": 1, "age": 3, "name": None, "other": True}], "insert")
    assert storage.records.get("d", "t", 1) == {"id": 1, "age": 3, "name": None, "other": True}


def test_metadata_times_follow_the_clock(table: Storage, clock: ManualClock) -> None:
    table.records.write("d", "t", [{"id": 1}], "insert")
    first = table.records.get("d", "t", 1)
    assert (first[CREATED], first[UPDATED]) == (START * 1000.0, START * 1000.0)
    clock.advance(2.5)
    table.records.write("d", "t", [{"id": 1, "a": 1}], "update")
    table.records.write("d", "t", [{"id": 1, "b": 1}], "replace")
    later = table.records.get("d", "t", 1)
    assert (later[CREATED], later[UPDATED]) == (START * 1000.0, (START + 2.5) * 1000.0)
    assert keys_of(table, UPDATED, lower=(START + 1) * 1000.0) == [1]
    assert table.now_ms() == (START + 2.5) * 1000.0


def test_expired_records_are_gone_and_insertable_again(storage: Storage, clock: ManualClock) -> None:
    storage.catalog.create_table("d", "t", expiration=10)
    storage.records.write("d", "t", [{"id": 1}, {"id": 2}], "insert")
    clock.advance(6)
    storage.records.write("d", "t", [{"id": 2, "v": "touched"}], "update")  # written again: lives on
    clock.advance(6)
    assert storage.records.get("d", "t", 1) is None
    assert [plain(r) for r in storage.records.get_many("d", "t", [1, 2])] == [None, {"id": 2, "v": "touched"}]
    assert [r["id"] for r in storage.records.scan("d", "t")] == [2]
    assert storage.records.write("d", "t", [{"id": 1, "v": "new"}], "insert").written == [1]
    assert storage.records.get("d", "t", 1)[CREATED] == (START + 12) * 1000.0
    assert storage.records.write("d", "t", [{"id": 3}], "update").skipped == [3]


def test_write_many_is_atomic_across_tables(storage: Storage) -> None:
    storage.catalog.create_table("d", "a")
    storage.catalog.create_table("d", "b", "key")
    storage.records.write("d", "b", [{"key": "taken"}], "insert")
    results = storage.records.write_many(
        [
            ("d", "a", [{"id": 1, "v": 1}], "insert"),
            ("d", "b", [{"key": "k", "v": 2}, {"key": "taken"}], "insert"),
        ]
    )
    assert [(r.written, r.skipped) for r in results] == [([1], []), (["k"], ["taken"])]
    with pytest.raises(InvalidRecord, match="a record with key \"taken\" already exists in 'b'"):
        storage.records.write_many(
            [("d", "a", [{"id": 2}], "insert"), ("d", "b", [{"key": "taken"}], "insert")], strict=True
        )
    with pytest.raises(InvalidRecord, match="a record with id 9 does not exist in 'a'"):
        storage.records.write_many(
            [("d", "b", [{"key": "z"}], "insert"), ("d", "a", [{"id": 9}], "update")], strict=True
        )
    with pytest.raises(InvalidRecord, match="invalid primary key value"):
        storage.records.write_many(
            [("d", "a", [{"id": 3}], "insert"), ("d", "b", [{"key": False}], "insert")]
        )
    assert storage.records.get("d", "a", 2) is None and storage.records.get("d", "a", 3) is None
    assert storage.records.get("d", "b", "z") is None


def test_write_many_sees_its_own_earlier_writes(storage: Storage) -> None:
    storage.catalog.create_table("d", "t")
    results = storage.records.write_many(
        [("d", "t", [{"id": 1, "a": 1}], "insert"), ("d", "t", [{"id": 1, "b": 2}], "update")]
    )
    assert [r.written for r in results] == [[1], [1]]
    assert plain(storage.records.get("d", "t", 1)) == {"id": 1, "a": 1, "b": 2}
    assert keys_of(storage, "b", equals=2, has_equals=True) == [1]


def test_missing_tables_and_databases(storage: Storage) -> None:
    with pytest.raises(DatabaseNotFound):
        storage.records.get("nope", "t", 1)
    storage.catalog.create_database("d")
    with pytest.raises(TableNotFound):
        storage.records.write("d", "t", [{"id": 1}], "insert")
    with pytest.raises(TableNotFound):
        list(storage.records.scan("d", "t"))


def test_a_read_started_before_a_drop_finishes_on_what_it_saw(table: Storage) -> None:
    table.records.write("d", "t", [{"id": i, "name": f"n{i}"} for i in range(5)], "insert")
    records = table.records.scan("d", "t")
    keys = table.records.index_keys("d", "t", "name", KeyRange())
    assert next(records)["id"] == 0 and next(keys) == 0
    table.catalog.drop_table("d", "t")
    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert list(keys) == [1, 2, 3, 4]
    with pytest.raises(TableNotFound):
        table.records.get("d", "t", 1)


def test_writes_racing_table_drops_never_deadlock(table: Storage) -> None:
    stop = threading.Event()

    def writer() -> None:
        for i in range(200):
            if stop.is_set():
                return
            with contextlib.suppress(StoreError):  # the table may be gone for a moment
                table.records.write("d", "t", [{"id": i, f"attr{i}": i}], "upsert")

    def dropper() -> None:
        for _ in range(40):
            if stop.is_set():
                return
            for action in (
                lambda: table.catalog.drop_table("d", "t"),
                lambda: table.catalog.create_table("d", "t"),
            ):
                with contextlib.suppress(StoreError):
                    action()

    threads = [threading.Thread(target=writer), threading.Thread(target=dropper)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stop.set()
    assert not any(thread.is_alive() for thread in threads), "a write and a drop_table deadlocked"


def test_synced_writes_survive_a_restart(factory: StoreFactory) -> None:
    first = factory.open()
    first.catalog.create_table("d", "t")
    first.records.write("d", "t", [{"id": i, "tag": i % 2} for i in range(50)], "insert")
    first.records.delete("d", "t", [0])
    first.records.sync()
    first.close()
    again = factory.open()
    assert again.catalog.count("d", "t") == 49
    assert list(again.records.index_keys("d", "t", "tag", KeyRange(0, True))) == list(range(2, 50, 2))


def test_attribute_names_with_control_characters_write_nothing(table: Storage) -> None:
    with pytest.raises(InvalidRecord, match=r"contains a control character \(U\+0000\)"):
        table.records.write("d", "t", [{"id": 1}, {"id": 2, "q\x00r": 1}], "insert")
    with pytest.raises(InvalidRecord, match=r"U\+0085"):
        table.imports.ensure_attributes("d", "t", ["fine", "bad\x85"])
    assert table.catalog.count("d", "t") == 0
    assert "q\x00r" not in table.catalog.table("d", "t").attributes
