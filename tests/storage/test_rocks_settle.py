"""RocksDB after a bulk load: the table is compacted in the background (``settle.py``),
describe_table's size is its files on disk, and stores written before keep reading."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rocksdict

from gateway.storage.ports import Storage
from gateway.storage.records import KeyRange
from gateway.storage.rocksdb import database as rocks_database
from gateway.storage.rocksdb import open_rocksdb
from gateway.storage.rocksdb.database import RocksDatabase, TableHandle

CHUNKS, ROWS = 4, 2_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    opened = open_rocksdb(tmp_path / "db")
    yield opened
    opened.close()


def _rocks(store: Storage) -> RocksDatabase:
    rocks: RocksDatabase = store.catalog._rocks  # type: ignore[attr-defined]  # noqa: SLF001
    return rocks


def _families(entry: TableHandle) -> list[Any]:
    return [entry.cf, *entry.index_cfs.values()]


def _level0_files(entry: TableHandle) -> int:
    return sum(int(cf.property_int_value("rocksdb.num-files-at-level0") or 0) for cf in _families(entry))


def _files_on_disk(rocks: RocksDatabase) -> int:
    """Bytes of the SST files of the store's tables, as the file system has them (the
    store's only table's, once the metadata's own column family is taken away)."""
    every = sum(
        os.path.getsize(os.path.join(rocks.path, f["name"].lstrip("/"))) for f in rocks.db.live_files()
    )
    return every - int(rocks.db.property_int_value("rocksdb.live-sst-files-size") or 0)


def _load(store: Storage, chunks: int = CHUNKS) -> None:
    """Chunks of new records, each flushed to its own level-0 files (as a long load leaves them)."""
    for chunk in range(chunks):
        records = [
            {"id": chunk * ROWS + i, "city": f"city {i % 50}", "note": f"note {i}, and more"}
            for i in range(ROWS)
        ]
        assert store.chunks.load_chunk("d", "t", records, "insert") == (ROWS, 0)
        _rocks(store).flush()


def _answers(store: Storage) -> tuple[Any, ...]:
    return (
        store.catalog.count("d", "t"),
        store.records.get_many("d", "t", [0, ROWS + 7, CHUNKS * ROWS - 1]),
        sorted(store.records.index_keys("d", "t", "city", KeyRange("city 7", True))),
    )


def test_settling_compacts_the_table_and_its_size_is_its_files_on_disk(store: Storage) -> None:
    store.catalog.create_table("d", "t")
    _load(store)
    rocks = _rocks(store)
    entry = rocks.get_table("d", "t")
    before = _answers(store)
    assert _level0_files(entry) >= CHUNKS
    assert store.catalog.size_bytes("d", "t") == _files_on_disk(rocks)
    unsettled = _files_on_disk(rocks)

    store.chunks.settle("d", "t")
    rocks.settler.wait()

    assert _level0_files(entry) == 0
    assert store.catalog.size_bytes("d", "t") == _files_on_disk(rocks) < unsettled
    assert _answers(store) == before
    assert before[0] == CHUNKS * ROWS and len(before[2]) == CHUNKS * ROWS // 50


def test_a_table_s_size_counts_its_memtables_before_a_flush(store: Storage) -> None:
    store.catalog.create_table("d", "t")
    empty = store.catalog.size_bytes("d", "t")
    store.chunks.load_chunk("d", "t", [{"id": i, "city": "x"} for i in range(100)], "insert")
    assert store.catalog.size_bytes("d", "t") > empty


def test_a_load_settles_the_table_it_wrote(store: Storage, tmp_path: Path) -> None:
    """Through the loader: its last sync asks for the table to be settled."""
    from gateway.bulk.loader import load_csv
    from gateway.jobs.progress import Progress

    store.catalog.create_table("d", "t")
    _load(store, 2)
    blocks = iter(["id,city\n", *(f"{i},c{i % 3}\n" for i in range(10_000, 10_500))])
    message = load_csv(store, "d", "t", blocks, "insert", Progress())
    assert message == "successfully loaded 500 of 500 records"
    rocks = _rocks(store)
    rocks.settler.wait()
    assert _level0_files(rocks.get_table("d", "t")) == 0


def test_dropping_a_table_or_closing_the_store_while_it_settles_is_quiet(tmp_path: Path) -> None:
    store = open_rocksdb(tmp_path / "db")
    store.catalog.create_table("d", "t")
    store.catalog.create_table("d", "kept")
    _load(store, 2)
    store.chunks.settle("d", "t")
    store.catalog.drop_table("d", "t")
    store.chunks.settle("d", "t")  # gone: nothing to settle
    store.chunks.load_chunk("d", "kept", [{"id": 1, "a": "b"}], "insert")
    store.chunks.settle("d", "kept")
    store.close()  # waits for the compaction under way
    reopened = open_rocksdb(tmp_path / "db")
    try:
        assert [t.name for t in reopened.catalog.list_tables("d")] == ["kept"]
        (record,) = reopened.records.get_many("d", "kept", [1])
        assert record is not None and (record["id"], record["a"]) == (1, "b")
    finally:
        reopened.close()


def _options_before_the_wal_cap() -> rocksdict.Options:
    """The options stores were written with before the WAL cap (and with another parallelism)."""
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    none, lz4 = rocksdict.DBCompressionType.none(), rocksdict.DBCompressionType.lz4()
    opts.set_compression_type(lz4)
    opts.set_compression_per_level([none] + [lz4] * 6)
    return opts


def test_a_store_written_with_the_earlier_options_reads_and_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(rocks_database, "_options", _options_before_the_wal_cap)
        old = open_rocksdb(tmp_path / "db")
        old.catalog.create_table("d", "t")
        _load(old)
        old.records.sync()
        rocks = _rocks(old)
        rocks.db.compact_range(None, None)
        for cf in _families(rocks.get_table("d", "t")):
            cf.compact_range(None, None)
        before = _answers(old)
        old.close()
    store = open_rocksdb(tmp_path / "db")
    try:
        assert _answers(store) == before
        store.chunks.load_chunk("d", "t", [{"id": -1, "city": "city 7"}], "insert")
        store.chunks.settle("d", "t")
        _rocks(store).settler.wait()
        assert store.catalog.count("d", "t") == CHUNKS * ROWS + 1
        assert -1 in set(store.records.index_keys("d", "t", "city", KeyRange("city 7", True)))
    finally:
        store.close()
