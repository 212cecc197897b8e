"""Benchmark of the import engine alone: JSON person records into a no-op store.

For each size (default 100k and 1M records) a JSON file of generated person records
is written to a temporary directory, then two child processes run on it:

* ``engine``: ``run_batch`` with a typical person control file (new, structured
  person name, email, job title, a mapped value, a filter, an if-exists) and a
  store whose ``commit`` only counts writes;
* ``engine-hinted``: the same, with the file's check remembered from an earlier run
  (``BatchFile.checked``, made untimed in the child first): the engine reads the file once;
* ``reference``: a loop that only parses the same JSON in pieces and builds one
  dict per row, a floor for what any engine can do.

Each child reports its wall time and peak RSS (``resource.getrusage``); the parent
prints records/s (medians of ``--runs`` alternating runs) and the ratios.

    python bench/engine_core.py                 # 100k and 1M
    python bench/engine_core.py --records 20000  # quick run
    python bench/engine_core.py --records 300000 --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

MODEL: dict[str, Any] = {
    "name": "bench:person",
    "title": "People",
    "database": "bench_person",
    "types": ["person", "staff"],
    "destinations": [
        {
            "name": "profile",
            "kind": "object",
            "table": "profile",
            "defaultType": "person",
            "names": {
                "title": {"type": "person-name", "required": True},
                "type": {"type": "object-type"},
                "email": {"type": "email-address", "multivalue": True},
                "job_title": {"type": "text", "multivalue": True},
                "department": {"type": "text"},
                "url": {"type": "url", "multivalue": True},
                "status": {"type": "text"},
            },
        }
    ],
}

CONTROL: dict[str, Any] = {
    "dataImportControlFileVersion": 0,
    "model": "bench:person",
    "files": {"DEFAULT": {"read": "json"}},
    "instructions": [
        {"action": "new", "destination": "profile"},
        {"source": "first", "destination": "value:person-name", "name": "first"},
        {"source": "last", "destination": "value:person-name", "name": "last"},
        {
            "action": "field-structured",
            "structured": "value:person-name",
            "destination": "profile",
            "name": "title",
        },
        {"source": "email", "destination": "profile", "name": "email"},
        {"source": "job", "destination": "profile", "name": "job_title"},
        {
            "source": "dept",
            "destination": "profile",
            "name": "department",
            "mapInputValue": {"MATH": "Mathematics", "PHYS": "Physics", "CHEM": "Chemistry"},
        },
        {"source": "web", "destination": "profile", "name": "url", "filters": ["haplo:fix-up-url"]},
        {
            "action": "if-exists",
            "source": "active",
            "then": [{"action": "set-value", "destination": "profile", "name": "status", "value": "active"}],
        },
    ],
}


def write_records(path: Path, count: int) -> None:
    """Write ``count`` generated person records as one JSON array, streaming."""
    rng = random.Random(42)
    firsts = ["Joe", "Jane", "Ann", "Bob", "Chidi", "Zoë"]
    depts = ["MATH", "PHYS", "CHEM", "HIST"]
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for i in range(count):
            record = {
                "id": f"P{i:07d}",
                "first": rng.choice(firsts),
                "last": f"Bloggs{i}",
                "email": f"person{i}@example.org",
                "job": "Lecturer in Applied Things",
                "dept": rng.choice(depts),
                "web": f"example.org/people/{i}",
                "active": i % 3 != 0,
            }
            if i:
                out.write(",")
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        out.write("]")


class CountingStore:
    """A TargetStore that stores nothing and counts committed writes."""

    def __init__(self) -> None:
        self.writes = 0

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        return None

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        return []

    def scan(self, table: str) -> Iterable[dict[str, Any]]:
        return []

    def tables(self) -> dict[str, str]:
        return {}

    def commit(self, writes: Sequence[Any]) -> list[int]:
        self.writes += len(writes)
        return [0] * len(writes)  # every write is new (engine.ports.NEW)

    def preview(self, writes: Sequence[Any]) -> list[int]:
        return [0] * len(writes)


def store_blob(blobs: Any, path: Path) -> tuple[str, int]:
    """Put a file into a filesystem blob store without reading it into memory (hard link, else
    copy; a file stored already is kept); its digest and size."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    name = digest.hexdigest()
    target = blobs.path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, target)
    except FileExistsError:
        pass
    except OSError:
        shutil.copyfile(path, target)
    return name, path.stat().st_size


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_engine(path: Path, hinted: bool = False) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from engine import READERS, BatchFile, Model, run_batch

    model = Model.from_json(MODEL)
    store = CountingStore()
    errors: list[str] = []
    file = BatchFile(name="people", open=lambda: path.open("rb"), size=path.stat().st_size)
    if hinted:  # an earlier run's check of the same file, as the gateway would remember it
        reader = READERS["json"](file, CONTROL["files"]["DEFAULT"])
        reader.check()
        file = BatchFile(file.name, file.open, file.size, checked=json.loads(json.dumps(reader.checked())))
        del reader
    start, cpu = time.perf_counter(), cpu_seconds()
    outcome = run_batch(CONTROL, model, [file], store, dry_run=False, log=errors.append)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if outcome.exception or outcome.errors or outcome.checks_skipped != int(hinted):
        raise SystemExit(f"benchmark batch failed: {outcome} {errors[:5]}")
    return {"records": outcome.records, "seconds": elapsed, "cpu": cpu, "peak_rss_mb": peak_rss_mb()}


def json_array_rows(path: Path, block: int = 1 << 20) -> Iterator[Any]:
    """The elements of a file holding one JSON array of objects, parsed piece by piece with orjson."""
    import orjson

    with path.open("rb") as stream:
        buf = stream.read(1)[1:]  # after "["
        while True:
            chunk = stream.read(block)
            if chunk:
                buf += chunk
                cut = buf.rfind(b"},{")
                if cut < 0:
                    continue
                piece, buf = buf[: cut + 1], buf[cut + 2 :]
            else:
                piece, buf = buf[:-1], b""
            yield from orjson.loads(b"[" + piece + b"]")
            if not chunk:
                return


def child_reference(path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))

    start, cpu = time.perf_counter(), cpu_seconds()
    count = 0
    rows: list[dict[str, Any]] = []
    for r in json_array_rows(path):
        rows.append({"title": {"first": r["first"], "last": r["last"]}, "email": [r["email"]]})
        count += 1
        if len(rows) == 1000:
            rows.clear()
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {"records": count, "seconds": elapsed, "cpu": cpu, "peak_rss_mb": peak_rss_mb()}


KINDS = ("reference", "engine", "engine-hinted")


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of each figure of ``results`` (runs of one kind)."""
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def run_child(kind: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--file", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=1, help="alternating runs of each kind (medians)")
    parser.add_argument("--child", choices=KINDS)
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        if args.child == "reference":
            result = child_reference(args.file)
        else:
            result = child_engine(args.file, hinted=args.child == "engine-hinted")
        print(json.dumps(result))
        return
    print(
        f"{'records':>9} {'run':>13} {'wall s':>8} {'rec/s':>10} {'cpu s':>8} {'rec/cpu-s':>10} {'peak MB':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.records:
            path = Path(tmp) / f"people-{count}.json"
            write_records(path, count)
            runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
            for _ in range(max(1, args.runs)):
                for kind in KINDS:
                    runs[kind].append(run_child(kind, path))
            results = {kind: _median(found) for kind, found in runs.items()}
            for kind, r in results.items():
                print(
                    f"{r['records']:>9} {kind:>13} {r['seconds']:>8.2f} {r['records'] / r['seconds']:>10,.0f} "
                    f"{r['cpu']:>8.2f} {r['records'] / r['cpu']:>10,.0f} {r['peak_rss_mb']:>8.0f}"
                )
            ref, eng, hinted = results["reference"], results["engine"], results["engine-hinted"]
            print(
                f"{'':>9} {'ratio':>13} {eng['seconds'] / ref['seconds']:.2f}x wall, {eng['cpu'] / ref['cpu']:.2f}x cpu, "
                f"{eng['peak_rss_mb'] / ref['peak_rss_mb']:.2f}x peak RSS (engine / reference); "
                f"file {path.stat().st_size / 1e6:.0f} MB"
            )
            print(
                f"{'':>9} {'hinted':>13} {hinted['seconds'] / eng['seconds']:.3f}x wall, "
                f"{hinted['cpu'] / eng['cpu']:.3f}x cpu (engine-hinted / engine, medians of {max(1, args.runs)})"
            )
            path.unlink()
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times suffer when it is high)"
    )


if __name__ == "__main__":
    main()
