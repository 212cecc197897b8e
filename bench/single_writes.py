"""Single-record writes and point reads on the embedded store with ``storage.rocksdb.unlogged_loads``
off and on (the store opened without and with ``atomic_flush``), alternating, in one run.

Each round opens a fresh store in a temp directory with the setting, creates a table with one
index, inserts ``--records`` records one ``Records.write`` each (the write path of ``insert`` of
one record: with the setting on it also checks whether the table has unflushed chunks), then reads
them back one ``Records.get`` each in random order. Printed: medians over ``--runs`` rounds of each
setting of writes/s and reads/s, their on/off ratios, and CPU seconds (this process, RocksDB's
threads included).

    python bench/single_writes.py [--records 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.storage.records import AttributeInfo  # noqa: E402
from gateway.storage.rocksdb import open_rocksdb  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_round(records: int, unlogged: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-single-") as work:
        store = open_rocksdb(Path(work) / "db", unlogged_loads=unlogged)
        try:
            attributes = [AttributeInfo("id", True, None), AttributeInfo("city", True, None)]
            store.catalog.create_table("d", "t", attributes=attributes)
            rows = [{"id": i, "city": f"city {i % 200}", "name": f"name {i}", "n": i} for i in range(records)]
            write = store.records.write
            cpu, started = _cpu(), time.perf_counter()
            for row in rows:
                write("d", "t", [row], "insert")
            write_s, write_cpu = time.perf_counter() - started, _cpu() - cpu
            keys = list(range(records))
            random.Random(7).shuffle(keys)
            get = store.records.get
            cpu, started = _cpu(), time.perf_counter()
            for key in keys:
                get("d", "t", key)
            read_s, read_cpu = time.perf_counter() - started, _cpu() - cpu
        finally:
            store.close()
    return {"write_s": write_s, "write_cpu": write_cpu, "read_s": read_s, "read_cpu": read_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for _ in range(args.runs):
        for which in ("off", "on"):
            rounds[which].append(one_round(args.records, which == "on"))

    def median(which: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[which])

    n = args.records
    for what, label in (("write", "single inserts"), ("read", "point reads")):
        off, on = median("off", f"{what}_s"), median("on", f"{what}_s")
        cpu_off, cpu_on = median("off", f"{what}_cpu"), median("on", f"{what}_cpu")
        print(
            f"{n:,} {label}, median of {args.runs}: unlogged loads off {n / off:,.0f}/s, on {n / on:,.0f}/s "
            f"(on/off time {on / off:.3f}x); CPU s off {cpu_off:.2f}, on {cpu_on:.2f} ({cpu_on / cpu_off:.3f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
