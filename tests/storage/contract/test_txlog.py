"""The TransactionLog contract: every committed write to a gateway table leaves one entry,
written atomically with it, on every backend."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.storage import keys as K
from gateway.storage.errors import InvalidRecord
from gateway.storage.ports import Storage
from gateway.storage.records import FinalRecord
from gateway.storage.txlog import LogEntry, writing_as
from tests.storage.contract.conftest import START, ManualClock, StoreFactory
from tests.storage.contract.test_chunks import encoded


def entries(storage: Storage, table: str = "t", **bounds: Any) -> list[LogEntry]:
    return list(storage.txlog.read("d", table, **bounds))


@pytest.fixture
def table(storage: Storage) -> Storage:
    storage.catalog.create_table("d", "t")
    storage.txlog.settings.enabled = True
    storage.txlog.settings.audit = True
    return storage


def test_writes_and_deletes_leave_entries_with_user_keys_and_originals(
    table: Storage, clock: ManualClock
) -> None:
    with writing_as("ann", "insert"):
        table.records.write("d", "t", [{"id": 1, "name": "a"}, {"id": "x"}], "insert")
    clock.advance(1)
    with writing_as("bob", "sql"):
        table.records.write("d", "t", [{"id": 1, "name": "b"}, {"id": 9}], "update")
    clock.advance(1)
    table.records.delete("d", "t", [1, 404])

    first, second, third = entries(table)
    assert (first.operation, first.user, first.source, first.keys) == ("insert", "ann", "insert", [1, "x"])
    assert first.timestamp == START * 1000
    assert first.records == [{"id": 1, "name": "a"}, {"id": "x"}]
    assert first.originals is None
    assert (second.operation, second.user, second.source, second.keys) == ("update", "bob", "sql", [1])
    assert second.records == [{"id": 1, "name": "b"}]  # the skipped update of 9 is not logged
    assert second.originals is not None and second.originals[0]["name"] == "a"
    assert (third.operation, third.keys, third.user) == ("delete", [1], None)
    assert third.originals is not None and third.originals[0]["name"] == "b"
    assert third.timestamp == (START + 2) * 1000


def test_reads_by_time_and_limit(table: Storage, clock: ManualClock) -> None:
    for n in range(5):
        table.records.write("d", "t", [{"id": n}], "insert")
        clock.advance(10)
    stamps = [e.timestamp for e in entries(table)]
    assert stamps == sorted(stamps) and len(stamps) == 5
    assert [e.keys for e in entries(table, start=stamps[1], end=stamps[3])] == [[1], [2], [3]]
    assert [e.keys for e in entries(table, start=stamps[2], limit=2)] == [[2], [3]]
    assert entries(table, limit=0) == []
    # Bounds a client may send beyond any stored time (or before any) are bounds, not errors.
    assert entries(table, start=3.03e16) == [] and entries(table, start=1e300, end=1e301) == []
    assert len(entries(table, start=-1e300, end=1e300)) == 5


def test_a_write_that_fails_leaves_no_entry(table: Storage) -> None:
    table.records.write("d", "t", [{"id": 1}], "insert")
    with pytest.raises(InvalidRecord):
        table.records.write_many(
            [("d", "t", [{"id": 2}], "insert"), ("d", "t", [{"id": 1}], "insert")], strict=True
        )
    with pytest.raises(InvalidRecord):
        table.records.write("d", "t", [{"id": 3}, {"id": [1]}], "insert")
    assert [e.keys for e in entries(table)] == [[1]]
    assert table.records.get("d", "t", 2) is None


def test_originals_only_with_the_audit_setting_and_nothing_when_disabled(table: Storage) -> None:
    table.txlog.settings.audit = False
    table.records.write("d", "t", [{"id": 1}], "insert")
    table.records.write("d", "t", [{"id": 1, "a": 2}], "upsert")
    assert entries(table)[-1].originals is None
    table.txlog.settings.enabled = False
    table.records.write("d", "t", [{"id": 2}], "insert")
    table.records.delete("d", "t", [1])
    assert len(entries(table)) == 2


def test_system_tables_are_not_logged(table: Storage) -> None:
    table.catalog.create_table("system", "hdb_thing")
    table.records.write("system", "hdb_thing", [{"id": 1}], "insert")
    assert list(table.txlog.read("system", "hdb_thing")) == []


def test_an_import_group_is_one_entry_per_table(table: Storage) -> None:
    table.catalog.create_table("d", "u")
    table.records.write("d", "t", [{"id": 1, "v": "old"}], "insert")
    rows = [{"id": 1, "v": "new"}, {"id": 2, "v": "two"}]
    group = {r["id"]: FinalRecord(r["id"], r, orjson.dumps(r), False) for r in rows}
    with writing_as("batch-key", "batch"):
        table.imports.write_records(
            "d",
            {
                "t": {K.encode_key(k): item for k, item in group.items()},
                "u": {K.encode_key(5): FinalRecord(5, {"id": 5}, b'{"id":5}', True)},
            },
        )
    last = entries(table)[-1]
    assert (last.operation, last.user, last.source, sorted(last.keys)) == (
        "upsert",
        "batch-key",
        "batch",
        [1, 2],
    )
    assert last.originals is not None and [o["v"] for o in last.originals] == ["old"]
    assert [e.keys for e in entries(table, "u")] == [[5]]


def test_a_bulk_chunk_is_one_entry_with_its_keys(table: Storage) -> None:
    with writing_as("ann", "csv_data_load"):
        table.chunks.load_chunk("d", "t", [{"id": n} for n in range(50)], "insert")
        table.chunks.load_chunk("d", "t", [{"id": n, "x": 1} for n in range(40, 60)], "upsert")
        chunk = encoded(table, "t", ["id", "y"], [[100, 101, 102], ["a", "b", "c"]])
        assert table.chunks.write_encoded("d", "t", chunk, "insert")
        staged = encoded(table, "t", ["id", "y"], [[200, 201], ["d", "e"]])
        table.chunks.stage_encoded("d", "t", staged)  # written ahead where the backend can
        assert table.chunks.write_encoded("d", "t", staged, "upsert")
    logged = entries(table)
    assert [e.operation for e in logged] == ["insert", "upsert", "insert", "upsert"]
    assert logged[3].keys == [200, 201]
    assert logged[0].keys == list(range(50)) and logged[0].records is None
    assert sorted(logged[1].keys) == list(range(40, 60))
    assert logged[2].keys == [100, 101, 102]
    assert {e.source for e in logged} == {"csv_data_load"}


def test_delete_before_prune_and_drop(factory: StoreFactory, table: Storage, clock: ManualClock) -> None:
    table.catalog.create_table("d", "u")
    for n in range(4):
        table.records.write("d", "t", [{"id": n}], "insert")
        table.records.write("d", "u", [{"id": n}], "insert")
        clock.advance(1)
    assert table.txlog.delete_before("d", "t", (START + 2) * 1000) == 2
    assert [e.keys for e in entries(table)] == [[2], [3]]
    assert table.txlog.delete_before("d", "t", -1e300) == 0
    assert table.txlog.prune((START + 3) * 1000) == 4
    assert [e.keys for e in entries(table)] == [[3]]
    assert [e.keys for e in entries(table, "u")] == [[3]]
    table.close()
    again = factory.open()  # a restart keeps the log
    assert [e.keys for e in entries(again)] == [[3]]
    again.catalog.drop_table("d", "t")
    again.catalog.create_table("d", "t")
    assert entries(again) == []
