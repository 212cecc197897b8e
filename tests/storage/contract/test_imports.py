"""Contract of the ImportWrites port: key checks, attribute registration, atomic groups of final records."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from gateway.storage import keys as K
from gateway.storage.errors import InvalidRecord, TableNotFound
from gateway.storage.newgroup import encode_new
from gateway.storage.ports import Storage
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, FinalRecord, KeyRange

STAMP = 1_700_000_000_000.0
ODD_VALUES: list[Any] = [
    "text",
    "",
    "nul\x00inside",
    0,
    -0.0,
    2.5,
    -(2**53),
    float("inf"),
    True,
    None,
    {"nested": ["z"]},
    [],
    ["only", "strings"],
    [1, "mixed", None, True],
]


def final(
    table: str, records: list[dict[str, Any]], fresh: bool = False
) -> dict[str, dict[bytes, FinalRecord]]:
    """``write_records``' argument for whole records of one table (keys under ``id``)."""
    return {table: {K.encode_key(r["id"]): FinalRecord(r["id"], r, orjson.dumps(r), fresh) for r in records}}


@pytest.fixture
def tables(storage: Storage) -> Storage:
    storage.catalog.create_table("m", "person")
    storage.catalog.create_table("m", "contact")
    storage.catalog.create_table("m", "fixed", "id", [AttributeInfo("code", False, "String")])
    return storage


def test_check_keys_gives_writes_keys_and_messages(tables: Storage) -> None:
    imports = tables.imports
    assert imports.check_keys("m", "person", [{"id": "a"}, {"id": 3}], "replace") == ["a", 3]
    generated = imports.check_keys("m", "person", [{}], "insert")[0]
    assert isinstance(generated, str) and len(generated) == 36
    with pytest.raises(InvalidRecord, match="a valid hash attribute must be provided"):
        imports.check_keys("m", "person", [{}], "replace")
    with pytest.raises(InvalidRecord, match="Value 5 in property code must be a string"):
        imports.check_keys("m", "fixed", [{"id": 1, "code": 5}], "insert")
    assert tables.catalog.count("m", "person") == 0


def test_ensure_attributes_registers_like_write(tables: Storage) -> None:
    tables.imports.ensure_attributes("m", "person", ["id", "email"])
    tables.imports.ensure_attributes("m", "fixed", ["code", "colour"])
    assert tables.catalog.table("m", "person").attributes["email"].indexed
    assert not tables.catalog.table("m", "fixed").attributes["colour"].indexed  # schema-defined: not indexed


def test_final_records_get_the_index_entries_write_gives(tables: Storage) -> None:
    for table in ("person", "contact"):
        for name in ("v", "w"):
            tables.catalog.add_attribute("m", table, name)
    records = [
        {"id": f"r{i}", "v": value, **({"w": i} if i % 2 else {})} for i, value in enumerate(ODD_VALUES)
    ]
    tables.records.write("m", "person", records, "insert")
    prepared = [{**r, CREATED: STAMP, UPDATED: STAMP} for r in records]
    assert tables.imports.write_records("m", final("contact", prepared, fresh=True)) == len(records)

    def entries(table: str) -> dict[str, list[Any]]:
        return {a: list(tables.records.index_items("m", table, a)) for a in ("v", "w")}

    assert entries("contact") == entries("person")
    replaced = [{**r, "v": ODD_VALUES[-1 - i]} for i, r in enumerate(records)]
    tables.records.write("m", "person", replaced, "replace")
    again = [{**r, CREATED: STAMP, UPDATED: STAMP + 1} for r in replaced]
    tables.imports.write_records("m", final("contact", again))
    assert entries("contact") == entries("person")
    stored = [r["v"] for r in tables.records.scan("m", "contact")]
    assert orjson.dumps(stored) == orjson.dumps([r["v"] for r in tables.records.scan("m", "person")])
    assert tables.records.get("m", "contact", "r0")[UPDATED] == STAMP + 1


def test_a_group_is_stored_whole_or_not_at_all(tables: Storage) -> None:
    good = {"id": "p1", "fresh_attribute": "x"}
    with pytest.raises(TableNotFound):
        tables.imports.write_records(
            "m", final("person", [good], True) | final("missing", [{"id": "c1"}], True)
        )
    assert tables.records.get("m", "person", "p1") is None
    group = final("person", [good], True) | final("contact", [{"id": "c1", "person": "p1"}], True)
    assert tables.imports.write_records("m", group) == 2
    assert tables.records.get("m", "person", "p1") == good
    assert tables.catalog.table("m", "person").attributes["fresh_attribute"].indexed
    assert list(tables.records.index_keys("m", "contact", "person", KeyRange("p1", True))) == ["c1"]


def test_a_final_record_replaces_what_is_stored_under_its_key(tables: Storage) -> None:
    tables.records.write("m", "person", [{"id": "p", "old": "gone", "keep": 1}], "insert")
    tables.imports.write_records("m", final("person", [{"id": "p", "keep": 2}]))
    assert tables.records.get("m", "person", "p") == {"id": "p", "keep": 2}
    assert list(tables.records.index_keys("m", "person", "old", KeyRange("gone", True))) == []
    assert list(tables.records.index_keys("m", "person", "keep", KeyRange(2, True))) == ["p"]


def test_new_records_encoded_ahead_are_stored_as_final_records_are(tables: Storage) -> None:
    """``write_new`` (where the store takes encoded records) stores the bytes, index entries, count
    and new attributes ``write_records`` would; a store that does not take them writes nothing."""
    records = [
        {"id": f"n{i}", "v": value, **({"w": i} if i % 2 else {})} for i, value in enumerate(ODD_VALUES)
    ]
    info = tables.catalog.table("m", "contact")
    encoded = encode_new(info, [dict(r) for r in records], 0.0)
    stamp = orjson.loads(encoded.rows[0])[CREATED]
    # the records in their order (the transaction log's), each index's entries in key order
    assert [orjson.loads(row)["id"] for row in encoded.rows] == [r["id"] for r in records]
    assert all(entries == sorted(entries) and entries for entries in encoded.index.values())
    if not tables.imports.takes_new_records:
        assert tables.imports.write_new("m", "contact", encoded) is False
        assert tables.catalog.count("m", "contact") == 0
        return
    assert tables.imports.write_new("m", "contact", encoded) is True
    prepared = [{**r, CREATED: stamp, UPDATED: stamp} for r in records]
    tables.imports.write_records("m", final("person", prepared, fresh=True))
    for attribute in ("v", "w", CREATED):
        assert list(tables.records.index_items("m", "contact", attribute)) == list(
            tables.records.index_items("m", "person", attribute)
        )
    assert [orjson.dumps(r) for r in tables.records.scan("m", "contact")] == [
        orjson.dumps(r) for r in tables.records.scan("m", "person")
    ]
    assert tables.catalog.count("m", "contact") == len(records)
    assert tables.catalog.table("m", "contact").attributes["w"].indexed


def test_new_records_for_other_indexes_are_not_written(tables: Storage) -> None:
    """Records encoded for a table as it was (an index added since) are refused, not written without it."""
    info = copy.deepcopy(tables.catalog.table("m", "contact"))  # as the engine's process got it
    tables.catalog.add_attribute("m", "contact", "z")
    encoded = encode_new(info, [{"id": "x", "v": 1}], 0.0)
    assert tables.imports.write_new("m", "contact", encoded) is False
    assert tables.records.get("m", "contact", "x") is None
