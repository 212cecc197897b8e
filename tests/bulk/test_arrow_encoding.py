"""Chunks encoded whole by Arrow kernels store exactly the bytes the per-value path stores."""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from gateway.bulk.arrowcsv import arrow_parts, cast_typed
from gateway.bulk.arrowencode import TypedColumn, encode_chunk, index_entries, number_keys, string_keys
from gateway.bulk.casting import cast_column
from gateway.bulk.csvsource import text_blocks
from gateway.bulk.loader import LoadFailed, load_parts
from gateway.bulk.prefetch import prefetched
from gateway.bulk.prepare import prepare
from gateway.jobs.progress import Progress
from gateway.storage import keys as K
from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, ChunkPlan, WriteMode
from gateway.storage.rocksdb import open_rocksdb

STAMP = 1_732_345_678_901.25
FLOATS = [
    "0.5",
    "2.000",
    "-0.0",
    "0.00001",
    "0.000001",
    "123456789012.5",
    "99999999999999.9",
    "-7.25",
    "1.10",
]
FLOATS += ["1.0000000000000001", "3.14159265358979", "0.1", "10.0", "-0.000012"]
WORDS = ["plain", 'say "hi"', "back\\slash", "tab\there", "été", "a,b", "x\u2028y", ""]


def _quote(cell: str) -> str:
    if any(c in cell for c in ',"\r\n') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _write(path: Path, rows: int, seed: int, shuffled: bool = False) -> Path:
    """A CSV whose chunks are sometimes uniform (Arrow kernels) and sometimes not (orjson)."""
    rng = random.Random(seed)
    ids = list(range(1, rows + 1))
    if shuffled:
        rng.shuffle(ids)
    lines = ["id,name,city,score,neg,flag,day,word"]
    for n, i in enumerate(ids):
        odd = (n // 700) % 3 == 0  # some chunks hold the odd values, the others are uniform
        lines.append(
            ",".join(
                map(
                    _quote,
                    [
                        f"k{i:06d}" if shuffled else str(i),
                        f"Ada {i}",
                        f"City {i % 9}",
                        rng.choice(FLOATS) if odd else f"{rng.random() * 100:.2f}",
                        str(-(i % 50) * 100_000_007),
                        "true" if i % 3 else "false",
                        f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                        rng.choice(WORDS) if odd else f"w{i % 5}",
                    ],
                )
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def _raw(store: Storage) -> dict[str, Any]:
    rocks = store.catalog._rocks  # type: ignore[attr-defined]  # noqa: SLF001 - the stored bytes are compared
    entry = rocks.get_table("d", "t")
    out: dict[str, Any] = {"records": list(entry.cf.items())}
    out["attributes"] = sorted((a.name, a.indexed, a.type) for a in entry.info.attributes.values())
    for attribute, cf in sorted(entry.index_cfs.items()):
        out[attribute] = list(cf.keys())
    return out


def _load(
    path: Path,
    store_dir: Path,
    fast: bool,
    attributes: list[AttributeInfo] | None,
    mode: WriteMode = "insert",
    stored: list[dict[str, Any]] | None = None,
) -> tuple[str, dict[str, Any]]:
    store = open_rocksdb(store_dir, clock=lambda: STAMP / 1000.0)
    try:
        store.catalog.create_table("d", "t", "id", attributes)
        if stored:
            store.records.write("d", "t", stored, "insert")
        with open(path, "rb") as handle:
            if fast:
                parts = arrow_parts(handle, Progress(), chunk_rows=500, min_bytes=0)
                assert parts is not None
            else:
                parts = prepare(text_blocks(handle.read), 1000)
            try:
                outcome = load_parts(store, "d", "t", parts, mode, Progress())
            except LoadFailed as exc:
                outcome = str(exc)
        helpers = {t.name for t in threading.enumerate()} & {"bulk-prefetch", "csv-check"}
        assert not helpers  # a finished or failed load leaves no thread reading behind
        return outcome, _raw(store)
    finally:
        store.close()


TYPED = [
    AttributeInfo("id", True, "Int"),
    AttributeInfo("name", False, "String"),
    AttributeInfo("city", True, "String"),
    AttributeInfo("score", True, "Float"),
    AttributeInfo("flag", True, "Boolean"),
    AttributeInfo("day", False, "Date"),
]


@pytest.mark.parametrize(
    ("shuffled", "attributes"),
    [
        (False, None),  # no schema: every attribute indexed, time stamps stored
        (True, None),  # string keys out of order
        (False, TYPED),
        (False, [*TYPED[:4], AttributeInfo("neg", False, "Int")]),  # a value out of Int's range
    ],
)
def test_the_store_holds_the_same_bytes_either_way(
    tmp_path: Path, shuffled: bool, attributes: list[AttributeInfo] | None
) -> None:
    path = _write(tmp_path / "in.csv", 6_000, seed=11, shuffled=shuffled)
    fast = _load(path, tmp_path / "fast", True, attributes)
    slow = _load(path, tmp_path / "slow", False, attributes)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    if attributes is None or all(a.name != "neg" for a in attributes):
        assert fast[0] == "successfully loaded 6000 of 6000 records"
        assert len(fast[1]["records"]) == 6_000
    else:
        assert "neg" in fast[0] and "CSV row 22" in fast[0], fast[0]


@pytest.mark.parametrize("mode", ["upsert", "update", "insert"])
def test_loads_into_a_filled_table_store_the_same_bytes_either_way(tmp_path: Path, mode: WriteMode) -> None:
    """Keys already stored send their chunks the per-value way, with the same outcome."""
    path = _write(tmp_path / "in.csv", 3_000, seed=5)
    stored = [{"id": i, "name": "old", "extra": True} for i in range(1, 3_001, 250)]
    fast = _load(path, tmp_path / "fast", True, None, mode, stored)
    slow = _load(path, tmp_path / "slow", False, None, mode, stored)
    assert fast == slow
    assert len(fast[1]["records"]) == (len(stored) if mode == "update" else 3_000)


def test_uniform_chunks_are_encoded_whole(tmp_path: Path) -> None:
    """The kernels really are used: every chunk of a uniform file encodes without the per-value path."""
    path = tmp_path / "u.csv"
    lines = ["id,name,score,flag"] + [
        f"{i},n{i},{i / 8:.3f},{'true' if i % 2 else 'false'}" for i in range(5000)
    ]
    path.write_text("\n".join(lines) + "\n")
    plan = ChunkPlan("id", ("name", "score"), {}, STAMP)
    with open(path, "rb") as handle:
        parts = list(arrow_parts(handle, Progress(), chunk_rows=500, min_bytes=0) or [])
    assert len(parts) >= 5
    for part in parts:
        assert part.typed is not None and all(isinstance(c, TypedColumn) for c in part.typed)
        encoded = encode_chunk(part.header, part.typed, plan)
        assert encoded is not None
        assert encoded.keys == sorted(encoded.keys)
        assert encoded.index["score"] == sorted(encoded.index["score"])


def test_key_kernels_match_the_per_value_encoding() -> None:
    numbers = [0, -0.0, 1, -1, 2**53, -(2**40), 0.5, -1e-300, 1e300, 123456.789]
    assert number_keys(pa.array(numbers, pa.float64())).to_pylist() == [K.encode_key(v) for v in numbers]
    integers = [0, 7, -7, 2**62, -(2**62)]
    assert number_keys(pa.array(integers, pa.int64())).to_pylist() == [K.encode_key(v) for v in integers]
    words = ["", "a", "été", "z" * 300]
    assert string_keys(pa.array(words)).to_pylist() == [K.encode_key(v) for v in words]
    assert string_keys(pa.array(["nul\x00inside"])) is None


@pytest.mark.parametrize(
    "values",
    [
        pa.array([f"c{i % 3}" for i in range(40)]),  # few distinct: through the dictionary
        pa.array([f"c{i}" for i in range(40)]),  # all distinct: sorted whole
        pa.array([(i * 7) % 5 - 2 for i in range(40)], pa.int64()),
        pa.array([i % 2 == 0 for i in range(40)]),
        pa.array(["b", "a", "b", "é", "a"] * 8),
    ],
)
def test_index_entries_are_the_sorted_per_value_entries(values: Any) -> None:
    kind = {"string": "str", "int64": "int", "bool": "bool"}[str(values.type)]
    primary = [f"k{i:03d}" for i in range(len(values))]
    entries = index_entries(TypedColumn(kind, values), string_keys(pa.array(primary)))
    assert entries is not None
    expected = sorted(
        K.encode_key(v) + K.encode_key(p) for v, p in zip(values.to_pylist(), primary, strict=True)
    )
    assert entries.to_pylist() == expected


@pytest.mark.parametrize(
    ("cells", "kind"),
    [
        (["1", "22", "-3"], "int"),
        (["007", "7"], None),  # leading zeros stay strings: not uniform
        (["0.5", "2.000"], "float"),
        (["true", "false"], "bool"),
        (["2024-01-02", "1999-12-31"], "str"),
        (["1e3", "x"], None),
        (["x", "e3"], "str"),
        (["null", "x"], None),
        (["0x1F", "12"], None),  # pyarrow reads hexadecimal: a leading zero is not an integer here
        (["-0", "5"], None),
        (["-05", "3"], None),
        (["0", "10", "-7"], "int"),
        (["2024-01-02", "2024/01/02"], None),
        (["2024-01-02", "2024-1-021"], None),
    ],
)
def test_cast_typed_kinds(cells: list[str], kind: str | None) -> None:
    column = cast_typed(pa.array(cells))
    assert (column.kind if isinstance(column, TypedColumn) else None) == kind


def test_only_iso_days_are_date_columns() -> None:
    days = cast_typed(pa.array(["2024-01-02", "1999-12-31"]))
    assert isinstance(days, TypedColumn) and days.dates
    assert not isinstance(cast_typed(pa.array(["2024-01-02", "2024x01-02"])), TypedColumn)


def _float_cells(rng: random.Random) -> list[str]:
    """Decimal cells: some with trailing zeros, integral, negative, or (rarely) below 1e-5."""
    tiny = rng.random() < 0.1
    cells = []
    for _ in range(rng.randint(1, 12)):
        whole = rng.choice(["0", str(rng.randint(1, 10 ** rng.randint(1, 9)))])
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5)))
        fraction = ("00000" if tiny else rng.choice(["", "0"])) + fraction + rng.choice(["", "0", "000"])
        cells.append(rng.choice(["", "", "-"]) + whole + "." + fraction)
    return cells


@pytest.mark.parametrize(
    "cells",
    [
        ["7.880", "10.000", "0.000", "2.5", "123.45"],
        ["-0.000", "1.5"],
        ["0.0000012", "3.25"],
        ["0.00001", "0.000010", "0.00009"],
        ["99999999999999.9", "0.1"],
    ],
)
def test_float_json_is_orjsons_text_of_the_stored_value(cells: list[str]) -> None:
    column = cast_typed(pa.array(cells))
    assert isinstance(column, TypedColumn) and column.kind == "float"
    if column.json is not None:
        assert [text.encode() for text in column.json.to_pylist()] == list(
            map(orjson.dumps, cast_column(cells))
        )


def test_float_json_is_orjsons_text_on_random_columns() -> None:
    rng = random.Random(11)
    checked = 0
    for _ in range(400):
        cells = _float_cells(rng)
        column = cast_typed(pa.array(cells))
        if isinstance(column, TypedColumn) and column.json is not None:
            expected = list(map(orjson.dumps, cast_column(cells)))
            assert [text.encode() for text in column.json.to_pylist()] == expected, cells
            checked += 1
    assert checked > 250


def test_mixed_pk_and_duplicate_keys_are_left_to_the_per_value_path() -> None:
    plan = ChunkPlan("id", (), {}, None)
    ids = TypedColumn("int", pa.array([3, 1, 3], pa.int64()))
    names = TypedColumn("str", pa.array(["a", "b", "c"]), pa.array(["a", "b", "c"]))
    assert encode_chunk(["id", "n"], [ids, names], plan) is None  # duplicate key
    assert encode_chunk(["id", "n"], [[1, "x", 2], names], plan) is None  # not a uniform key column
    assert encode_chunk(["n"], [names], plan) is None  # no primary key column
    unique = TypedColumn("int", pa.array([3, 1, 2], pa.int64()))
    encoded = encode_chunk(["id", "n"], [unique, names], plan)
    assert encoded is not None
    assert encoded.rows == [b'{"id":1,"n":"b"}', b'{"id":2,"n":"c"}', b'{"id":3,"n":"a"}']


def test_prefetched_gives_every_item_in_order_and_raises_the_producers_error() -> None:
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad row")

    seen = []
    with pytest.raises(ValueError, match="bad row"):
        for item in prefetched(failing()):
            seen.append(item)
    assert seen == [1]


def test_prefetched_keeps_no_item_it_has_handed_on() -> None:
    """While the consumer waits for the next item and the producer makes it, neither thread holds the
    items already handed on (a load's chunks are large: memory would hold stale ones)."""

    class Item:
        pass

    refs: list[weakref.ref[Item]] = []
    gate = threading.Event()

    def made() -> Item:
        item = Item()
        refs.append(weakref.ref(item))
        return item

    def source() -> Iterator[Item]:
        yield made()
        yield made()
        gate.wait(30)  # the producer is held here, making the third
        yield made()

    items = prefetched(source(), depth=1)
    assert isinstance(next(items), Item)
    assert isinstance(next(items), Item)
    third: list[Item] = []
    waiting = threading.Thread(target=lambda: third.append(next(items)))
    waiting.start()  # the consumer now waits in the queue
    deadline = time.monotonic() + 10
    while any(ref() is not None for ref in refs) and time.monotonic() < deadline:
        time.sleep(0.01)
    held = [ref() is not None for ref in refs]
    gate.set()
    waiting.join(30)
    assert held == [False, False]
    assert len(third) == 1 and len(refs) == 3
    assert list(items) == []


def test_prefetched_stops_its_thread_when_the_consumer_stops_early() -> None:
    produced = []
    closed = []

    def endless() -> Iterator[int]:
        try:
            for n in range(10_000):
                produced.append(n)
                yield n
        finally:
            closed.append(threading.current_thread().name)

    before = threading.active_count()
    items = prefetched(endless(), depth=2)
    assert next(items) == 0
    items.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before
    assert len(produced) < 10
    assert closed == ["bulk-prefetch"]  # the source was closed by its own thread before close() returned


def test_a_batch_put_ahead_is_refused_when_an_index_was_replaced_meanwhile(tmp_path: Path) -> None:
    """The loader stages chunks in another thread, which releases their rows and index entries (the
    WriteBatch holds them); an index dropped and made again before the write makes the store refuse
    the staged chunk, writing nothing, and the loader writes its records the per-value way."""
    store = open_rocksdb(tmp_path / "db")
    try:
        store.catalog.create_table("d", "t", "id")
        store.records.write("d", "t", [{"id": 100, "city": "z"}], "insert")

        def chunk(first: int) -> Any:
            ids = TypedColumn("int", pa.array([first, first + 1, first + 2], pa.int64()))
            cities = TypedColumn("str", pa.array(["b", "a", "b"]), pa.array(["b", "a", "b"]))
            encoded = encode_chunk(
                ["id", "city"], [ids, cities], store.chunks.chunk_plan("d", "t", ["id", "city"], STAMP)
            )
            assert encoded is not None
            store.chunks.stage_encoded("d", "t", encoded)
            assert encoded.staged is not None and encoded.released
            assert encoded.rows == [] and encoded.index == {} and len(encoded) == 3
            return encoded

        first, second = chunk(1), chunk(4)
        assert store.chunks.write_encoded("d", "t", first, "insert")  # as staged
        store.catalog.drop_attribute("d", "t", "city")
        store.catalog.add_attribute("d", "t", "city", indexed=True)
        assert not store.chunks.write_encoded("d", "t", second, "insert")
        assert store.catalog.count("d", "t") == 4  # nothing of the second chunk
        records = [{"id": i, "city": c} for i, c in zip([4, 5, 6], ["b", "a", "b"], strict=True)]
        assert store.chunks.load_chunk("d", "t", records, "insert", STAMP) == (3, 0)
        assert [key for _, key in store.records.index_items("d", "t", "city")] == [
            5,
            4,
            6,
        ]  # only what followed the drop
        assert store.records.get("d", "t", 6)["city"] == "b"  # type: ignore[index]
    finally:
        store.close()
