"""Bulk-load chunks written without the write-ahead log, on the RocksDB store itself.

Each scenario runs in a child process that writes to a real store and then kills itself with
SIGKILL (memtables lost, nothing flushed on the way out); the store is then opened here and
checked: records, index entries and the stored count agree, and exactly the chunks that had to
survive did.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.rocksdb import open_rocksdb

CHUNK = 1_000

_SETUP = """
import os, signal
from gateway.storage.records import AttributeInfo
from gateway.storage.rocksdb import open_rocksdb

store = open_rocksdb({path!r}, unlogged_loads={unlogged!r})
rocks = store.records._rocks
attributes = [AttributeInfo("id", True, None), AttributeInfo("city", True, None)]
store.catalog.create_table("d", "t", attributes=attributes)
store.catalog.create_table("d", "other", attributes=attributes)

def chunk(number):
    records = [{{"id": i, "city": f"city {{i % 7}}"}} for i in range(number * {chunk}, (number + 1) * {chunk})]
    store.chunks.load_chunk("d", "t", records, "insert")

def crash():
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _crash_after(path: Path, script: str, unlogged: bool = True) -> None:
    """Run ``script`` (after ``_SETUP``) in a child process that ends by SIGKILL."""
    code = _SETUP.format(path=str(path), unlogged=unlogged, chunk=CHUNK) + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr


def _kept(path: Path) -> list[int]:
    """The ids of table d.t after the crash, once its index and count are checked against them."""
    store: Storage = open_rocksdb(path)
    try:
        ids = [record["id"] for record in store.records.scan("d", "t")]
        assert store.catalog.count("d", "t") == len(ids)
        indexed = sorted(key for _, key in store.records.index_items("d", "t", "city", KeyRange()))
        assert indexed == sorted(ids)
    finally:
        store.close()
    return sorted(ids)


def test_unwritten_chunks_are_lost_whole_and_a_sync_keeps_them(tmp_path: Path) -> None:
    _crash_after(tmp_path / "lost", "chunk(0); chunk(1); crash()")
    assert _kept(tmp_path / "lost") == []  # no log, no flush: a kill loses the load (whole)
    _crash_after(tmp_path / "synced", "chunk(0); chunk(1); store.records.sync(); chunk(2); crash()")
    assert _kept(tmp_path / "synced") == list(range(2 * CHUNK))  # the load's end makes it durable


def test_with_the_setting_off_chunks_go_through_the_log(tmp_path: Path) -> None:
    _crash_after(tmp_path / "db", "chunk(0); chunk(1); crash()", unlogged=False)
    assert _kept(tmp_path / "db") == list(range(2 * CHUNK))


def test_a_logged_write_to_the_table_flushes_its_chunks_first(tmp_path: Path) -> None:
    script = """
        chunk(0)
        store.records.write("d", "other", [{"id": 1}], "insert")  # another table: no flush
        assert rocks.flushed == 0, rocks.flushed
        store.records.write("d", "t", [{"id": -1, "city": "x"}], "insert")
        assert rocks.flushed == 1, rocks.flushed
        chunk(1)
        crash()
    """
    _crash_after(tmp_path / "db", script)
    assert _kept(tmp_path / "db") == [-1, *range(CHUNK)]  # never the insert without chunk 0


def test_a_column_family_released_mid_load_flushes_every_family_at_once(tmp_path: Path) -> None:
    # rocksdict flushes a column family object it closes: alone, that would keep the records
    # of chunk 0 without their index entries. The store flushes all of them first.
    script = """
        chunk(0)
        rocks.close_cf(rocks.db.get_column_family(rocks.get_table("d", "t").cf_name))
        chunk(1)
        crash()
    """
    _crash_after(tmp_path / "db", script)
    assert _kept(tmp_path / "db") == list(range(CHUNK))


@pytest.mark.parametrize("unlogged", [True, False], ids=["unlogged", "logged"])
def test_atomic_flush_follows_the_setting(tmp_path: Path, unlogged: bool) -> None:
    store = open_rocksdb(tmp_path / "db", unlogged_loads=unlogged)
    try:
        store.catalog.create_table("d", "t", attributes=[AttributeInfo("id", True, None)])
        store.chunks.load_chunk("d", "t", [{"id": 1}], "insert")
        store.records.sync()
    finally:
        store.close()
    logged = (tmp_path / "db" / "LOG").read_text()
    assert f"Options.atomic_flush: {int(unlogged)}" in logged
    reopened = open_rocksdb(tmp_path / "db")
    try:
        assert reopened.records.get("d", "t", 1) == {"id": 1}
    finally:
        reopened.close()
