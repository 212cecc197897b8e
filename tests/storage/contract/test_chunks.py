"""Contract of the ChunkWrites port: bulk-load chunks as records, and encoded chunks written whole."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.bulk.listencode import encode_columns
from gateway.storage.errors import ChunkRecordError
from gateway.storage.ports import Storage
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, EncodedChunk, KeyRange
from tests.storage.contract.conftest import START


def plain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in (CREATED, UPDATED)} for r in records]


def encoded(storage: Storage, table: str, names: list[str], columns: list[list[Any]]) -> EncodedChunk:
    plan = storage.chunks.chunk_plan("d", table, names, storage.now_ms())
    assert plan is not None
    chunk = encode_columns(names, columns, plan)
    assert chunk is not None
    return chunk


@pytest.fixture
def table(storage: Storage) -> Storage:
    storage.catalog.create_table("d", "t")
    return storage


def test_load_chunk_follows_the_write_modes(table: Storage) -> None:
    chunks = table.chunks
    assert chunks.load_chunk("d", "t", [{"id": i, "v": i} for i in range(5)], "insert") == (5, 0)
    assert chunks.load_chunk("d", "t", [{"id": 4, "v": "dup"}, {"id": 5, "v": 5}], "insert") == (1, 1)
    assert chunks.load_chunk(
        "d", "t", [{"id": 1, "w": "u"}, {"id": 99, "w": "u"}, {"w": "no key"}], "update"
    ) == (1, 2)
    assert chunks.load_chunk("d", "t", [{"id": 2, "w": "x"}, {"id": "new", "w": "y"}], "upsert") == (2, 0)
    stored = {r["id"]: r for r in plain(list(table.records.scan("d", "t")))}
    assert stored[4] == {"id": 4, "v": 4} and stored[1] == {"id": 1, "v": 1, "w": "u"}
    assert stored[2] == {"id": 2, "v": 2, "w": "x"} and stored["new"] == {"id": "new", "w": "y"}
    assert list(table.records.index_keys("d", "t", "w", KeyRange("u", True))) == [1]
    assert table.records.get("d", "t", 0)[CREATED] == START * 1000.0
    generated = chunks.load_chunk("d", "t", [{"v": "no key"}], "insert")
    assert generated == (1, 0) and table.catalog.count("d", "t") == 8


def test_a_bad_record_names_its_position_and_nothing_is_written(storage: Storage) -> None:
    storage.catalog.create_table("d", "typed", "id", [AttributeInfo("n", True, "Int")])
    with pytest.raises(ChunkRecordError) as raised:
        storage.chunks.load_chunk(
            "d", "typed", [{"id": 1, "n": 1}, {"id": 2, "n": "two"}, {"id": 3}], "insert"
        )
    assert raised.value.index == 1
    assert (
        str(raised.value) == 'Value "two" in property n must be an integer (from -2147483648 to 2147483647)'
    )
    with pytest.raises(ChunkRecordError) as bad_key:
        storage.chunks.load_chunk("d", "typed", [{"id": 1}, {"id": 2}, {"id": [3]}], "insert")
    assert bad_key.value.index == 2 and str(bad_key.value) == "invalid primary key value [3] for 'id'"
    assert storage.catalog.count("d", "typed") == 0


def test_an_encoded_chunk_of_new_records_is_written_whole(table: Storage) -> None:
    names, columns = ["id", "city", "n"], [[3, 1, 2], ["Oslo", "Rome", "Oslo"], [1.5, 2, None]]
    chunk = encoded(table, "t", names, columns)
    table.chunks.stage_encoded("d", "t", chunk)
    assert table.chunks.write_encoded("d", "t", chunk, "insert") is True
    assert plain(list(table.records.scan("d", "t"))) == [
        {"id": 1, "city": "Rome", "n": 2},
        {"id": 2, "city": "Oslo", "n": None},
        {"id": 3, "city": "Oslo", "n": 1.5},
    ]
    assert list(table.records.index_keys("d", "t", "city", KeyRange("Oslo", True))) == [2, 3]
    assert table.catalog.table("d", "t").attributes["city"].indexed
    assert table.records.get("d", "t", 1)[UPDATED] == START * 1000.0


def test_an_encoded_chunk_is_refused_when_it_cannot_be_written_as_is(table: Storage) -> None:
    table.records.write("d", "t", [{"id": 2, "city": "Bern"}], "insert")
    chunk = encoded(table, "t", ["id", "city"], [[1, 2, 3], ["a", "b", "c"]])
    assert table.chunks.write_encoded("d", "t", chunk, "insert") is False  # key 2 is stored
    assert table.chunks.write_encoded("d", "t", chunk, "update") is False
    later = encoded(table, "t", ["id", "city"], [[10, 11], ["a", "b"]])
    table.catalog.add_attribute("d", "t", "extra")  # the table changed since the chunk was planned
    assert table.chunks.write_encoded("d", "t", later, "upsert") is False
    assert table.catalog.count("d", "t") == 1
    fresh = encoded(table, "t", ["id", "city"], [[10, 11], ["a", "b"]])
    assert table.chunks.write_encoded("d", "t", fresh, "upsert") is True
    assert table.catalog.count("d", "t") == 3
