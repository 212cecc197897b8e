"""What putting a bulk load's chunks into RocksDB costs, by way of writing them (issue 15, item 4).

A one-index ``csv_file_load`` is bound by the GIL: rocksdict holds it through
``Rdict.write`` (and every ``WriteBatch.put``), so the parse and encode threads wait
while a chunk is written. This measures the store's side alone, on a fresh store
opened with the gateway's own options, for chunks like a load's (11,000 records of
~190 bytes and their index entries on a 200-value attribute, in key order):

* ``batch``: one WriteBatch per chunk, written with the write-ahead log (what the loader does);
* ``batch-nowal``: the same without the write-ahead log (not crash-safe as it is: shown
  for what the log costs);
* ``sst``: one SstFileWriter file per column family per chunk, ingested per column family
  (rocksdict has no multi-column-family ingest, so a chunk would not be atomic).

Printed per way: wall seconds, which are also the seconds the GIL is held (rocksdict
releases it in none of these calls: ``put``, ``write``, ``SstFileWriter``, ``ingest``), CPU
seconds of the process (RocksDB's flush and compaction threads too) and the level-0 files
the index column family is left with. Ways alternate, ``--repeat`` runs each, medians.

    python bench/chunk_write.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import Any

import rocksdict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.storage.rocksdb.database import _options  # noqa: E402

CHUNK = 11_000  # a 1 MB block of bench/bulk.py's CSV, one part of a load
Chunk = tuple[list[bytes], list[bytes], list[bytes]]


def make_chunks(rows: int) -> list[Chunk]:
    """Keys (number keys, ascending), record JSON and sorted index entries, chunk by chunk."""
    chunks = []
    for start in range(0, rows, CHUNK):
        ids = range(start + 1, min(rows, start + CHUNK) + 1)
        keys = [b"\x02" + struct.pack(">Q", (1 << 63) | i) for i in ids]
        rows_json = [
            b'{"id":%d,"name":"Alan %d","city":"City %03d","age":%d,"score":2.501,"active":true,'
            b'"joined":"2011-02-02","note":"note %d, with a comma, and more",'
            b'"__createdtime__":1796558595466.125,"__updatedtime__":1796558595466.125}'
            % (i, i, i % 200, 18 + i % 60, i)
            for i in ids
        ]
        index = sorted(b"\x03City %03d\x00" % (i % 200) + key for i, key in zip(ids, keys, strict=True))
        chunks.append((keys, rows_json, index))
    return chunks


def _batch(wal: bool) -> Callable[[Any, Any, Any, Chunk, str], None]:
    options = rocksdict.WriteOptions()
    options.disable_wal = not wal

    def write(db: Any, table: Any, index: Any, chunk: Chunk, _: str) -> None:
        keys, rows, entries = chunk
        batch = rocksdict.WriteBatch(raw_mode=True)
        put = batch.put
        deque(map(put, keys, rows, repeat(table)), 0)
        deque(map(put, entries, repeat(b""), repeat(index)), 0)
        db.write(batch, options)

    return write


def _sst(db: Any, table: Any, index: Any, chunk: Chunk, work: str) -> None:
    keys, rows, entries = chunk
    options = rocksdict.Options(raw_mode=True)
    options.set_compression_type(rocksdict.DBCompressionType.none())  # as the store's level 0
    ingest = rocksdict.IngestExternalFileOptions()
    ingest.set_move_files(True)
    for cf_name, cf_keys, values in (("table", keys, rows), ("index", entries, repeat(b""))):
        path = os.path.join(work, f"{cf_name}.sst")
        writer = rocksdict.SstFileWriter(options)
        writer.open(path)
        deque(map(writer.__setitem__, cf_keys, values), 0)
        writer.finish()
        db.get_column_family(cf_name).ingest_external_file([path], ingest)


WAYS: dict[str, Callable[[Any, Any, Any, Chunk, str], None]] = {
    "batch": _batch(wal=True),
    "batch-nowal": _batch(wal=False),
    "sst": _sst,
}


def run(way: str, chunks: list[Chunk], scratch: str) -> dict[str, float]:
    """Write every chunk one way into a fresh store; its figures."""
    path = tempfile.mkdtemp(prefix=f"{way}-", dir=scratch)
    db = rocksdict.Rdict(path, _options(), column_families={})
    db.create_column_family("table", _options())
    db.create_column_family("index", _options())
    table, index = db.get_column_family_handle("table"), db.get_column_family_handle("index")
    write = WAYS[way]
    cpu, started = time.process_time(), time.perf_counter()
    for chunk in chunks:
        write(db, table, index, chunk, path)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    level0 = int(db.get_column_family("index").property_int_value("rocksdb.num-files-at-level0") or 0)
    del table, index
    db.close()
    shutil.rmtree(path)
    return {"wall": wall, "cpu": cpu, "level0": level0}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS))
    args = parser.parse_args()
    chunks = make_chunks(args.rows)
    figures: dict[str, list[dict[str, float]]] = {way: [] for way in args.ways}
    with tempfile.TemporaryDirectory(prefix="bench-chunk-write-") as scratch:
        for _ in range(args.repeat):
            for way in args.ways:
                figures[way].append(run(way, chunks, scratch))
    print(f"chunk writes: {args.rows:,} records + 1 index, chunks of {CHUNK:,}; medians of {args.repeat}")
    for way, runs in figures.items():
        median = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
        print(
            f"  {way:>12}: {args.rows / median['wall']:>10,.0f} rows/s  wall {median['wall']:.2f} s  "
            f"(GIL held)  CPU {median['cpu']:.2f} s  index L0 files {median['level0']:.0f}"
        )


if __name__ == "__main__":
    main()
