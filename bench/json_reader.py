"""Benchmark of the engine's JSON array reader on files whose elements are larger than a piece.

For each size (default 4, 16 and 32 MB) a JSON array of three elements is written:
a nested record of about half the size, a small record, and the nested record
again, indented (so the cheap ``},{`` cut candidate lands inside a record and the
reader must walk elements). The reader's check pass and record pass (the
``json`` reader of ``engine.READERS``, as a batch runs it) are timed against
``json.loads`` of the whole file in the same run, which keeps the whole document
in memory and is the floor for the stdlib decoder that walks the elements.

Printed: MB/s of each pass and of the baseline, and the check pass / baseline
ratio. A reader that searched the growing buffer after every read would slow
down with the element size (quadratic); this one keeps about the same rate.

    python bench/json_reader.py
    python bench/json_reader.py --mb 64
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import READERS, BatchFile  # noqa: E402


def document(megabytes: float) -> bytes:
    """Three elements, two of them nested records of about ``megabytes / 2`` each."""
    count = int(megabytes * 1e6 / 2 / 200)  # about 200 bytes per indented item
    big = {"id": 1, "items": [{"k": i, "text": "x" * 40, "tags": ["a", "b", {"n": i}]} for i in range(count)]}
    return json.dumps([big, {"id": 2}, big], indent=2).encode()


def timed_passes(data: bytes) -> tuple[float, float, int]:
    """Seconds of the check pass and of the record pass, and the records read."""
    batch_file = BatchFile("bench.json", lambda: io.BytesIO(data), len(data))
    reader = READERS["json"](batch_file, {"read": "json"})
    started = time.perf_counter()
    reader.check()
    checked = time.perf_counter() - started
    started = time.perf_counter()
    count = sum(1 for _ in reader.records())
    return checked, time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, action="append", help="document sizes in MB (repeatable)")
    sizes = parser.parse_args().mb or [4.0, 16.0, 32.0]
    print(f"JSON array reader, elements larger than a piece: python {sys.version.split()[0]}")
    for megabytes in sizes:
        data = document(megabytes)
        size = len(data) / 1e6
        started = time.perf_counter()
        json.loads(data)
        baseline = time.perf_counter() - started
        checked, read, count = timed_passes(data)
        print(
            f"{size:6.1f} MB, {count} records: check {size / checked:6.1f} MB/s, records {size / read:6.1f} MB/s"
            f" | json.loads whole {size / baseline:6.1f} MB/s | check/baseline {baseline / checked:.2f}"
        )


if __name__ == "__main__":
    main()
