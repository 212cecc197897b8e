"""Benchmark of real import batches through the gateway's batch runner, against a reference loop.

For each size (``--sizes``, default 100k and 1M records) a JSON array of generated
person records is written (first, last, email, job title, a department code mapped
with ``mapInputValue``, a web address put through the ``haplo:fix-up-url`` filter
and an ``active`` flag used by ``if-exists``). Then, each in a fresh child process
so that peak RSS is that run's own:

* ``reference``: parses the same JSON in pieces with orjson and writes one record
  per row (orjson-encoded, a random UUID key) into a RocksDB opened with the
  store's options, one WriteBatch per 1,000 rows: the floor for any import;
* ``dry-run`` and ``real``: in process, on a fresh gateway root (real RocksDB
  store, blob store, model registry, batch service): the person model is
  registered, the control file (9 instructions: new, the person name from two
  fields via ``value:person-name`` + ``field-structured``, email, job title, a
  mapped value, a filtered value, an if-exists) and the data file are stored, a
  batch is created and scheduled, and ``BatchRunner.run`` (the job APScheduler
  would run) runs it in the main thread. The batch must end ``dry-run`` /
  ``complete`` with no errors and, for the real run, every record stored.
  ``real`` is the run as configured by default: a file this big (at least
  ``import.engine_process_min_bytes``) runs the engine in a child process while
  the run's thread stores; ``real-1proc`` keeps the engine in the run's process;
* ``real-after-dry``: the nightly workflow on one root, in one process: a dry-run batch of
  the file (not timed), then a real-run batch of the same control file and file, timed. The
  runner remembers the dry run's check of the file, so the real run reads it once
  (``gateway.imports.checked``); its figures are printed as their own row. Beside ``real`` it
  also gains the warm-up of the dry run: ``--hints`` compares it with the same sequence
  that checks again (``import.checked_files: 0``), which isolates the check.

Printed per run: wall seconds, records/s, CPU seconds (process, RocksDB's
background threads and the engine process included; ``--against`` also prints the engine
process's own), peak RSS (and the engine
process's, ``child MB``, sampled every 0.1 s) and the RSS just before the run (after
setup), then the run/reference ratios.

    python bench/engine.py                          # 100k and 1M
    python bench/engine.py --sizes 20000            # quick run
    python bench/engine.py --sizes 100000,1000000 --keep /tmp/bench-engine
    python bench/engine.py --sizes 200000 --txlog 3   # the real run with the transaction log off and
                                                      # on, alternating, 3 runs each: medians, ratio
    python bench/engine.py --sizes 300000 --hints 3   # the real run after a dry run of the same file,
                                                      # checking it again vs remembering the check
    python bench/engine.py --sizes 1000000 --against /path/to/baseline-checkout --rounds 3
                                                      # the real run of this checkout and of another,
                                                      # alternating (same input file): medians, ratios
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import engine_core  # bench/engine_core.py, beside this script
from off_on import print_off_on  # bench/off_on.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("reference", "dry-run", "real-1proc", "real", "real-after-dry")
"""``real-1proc``: the real run with the engine in the run's own process (``import.engine_process_min_bytes``
0); ``real``: as configured by default (a file this big runs the engine in a child process)."""
TXLOG_KINDS = ("real-notxlog", "real")
"""``--txlog``: the real run with ``logging.transaction_log`` off, then on."""
HINTS_KINDS = ("real-after-dry-unremembered", "real-after-dry")
"""``--hints``: the real run after a dry run of the same file with ``import.checked_files: 0`` (so it
checks the file again), then with the check remembered: the same process history, only the check differs."""

# The person model with an email lookup name, the control file and the resource
# probes are the ones the engine-only benchmark uses.
MODEL: dict[str, Any] = copy.deepcopy(engine_core.MODEL)
MODEL["destinations"][0]["lookupNames"] = ["email"]
CONTROL = engine_core.CONTROL
peak_rss_mb = engine_core.peak_rss_mb


def cpu_seconds() -> float:
    """This process's CPU seconds and its waited-for children's (the engine process of a run)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def children_cpu_seconds() -> float:
    """The CPU seconds of this process's waited-for children (a run's engine process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


class EnginePeak:
    """Samples the peak RSS (VmHWM) of this process's engine process while a run lasts."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> EnginePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        """Every 0.1 s, the VmHWM of this process's children that run ``engine.remote`` (found
        through /proc/PID/task/*/children: a scan of all of /proc held the GIL for ms each time)."""
        tasks = Path(f"/proc/{os.getpid()}/task")
        while not self._stop.wait(0.1):
            for children in tasks.glob("*/children"):
                try:
                    pids = children.read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    try:
                        if b"engine.remote" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                            continue
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    for line in status.splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)


def generate(path: Path, count: int) -> None:
    """Write ``count`` generated person records as one JSON array, streaming."""
    rng = random.Random(42)
    firsts = ["Joe", "Jane", "Ann", "Bob", "Chidi", "Zoë"]
    depts = ["MATH", "PHYS", "CHEM", "HIST"]
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write("[")
        for i in range(count):
            record = {
                "first": rng.choice(firsts),
                "last": f"Bloggs{i}",
                "email": f"person{i}@example.org",
                "job": "Lecturer in Applied Things",
                "dept": rng.choice(depts),
                "web": f"example.org/people/{i}",
                "active": i % 3 != 0,
            }
            out.write(("," if i else "") + json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        out.write("]")


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child_reference(path: Path, workdir: Path) -> dict[str, Any]:
    """Parse the JSON in pieces and write one record per row into RocksDB (a batch per 1,000 rows)."""
    import orjson
    import rocksdict

    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.increase_parallelism(max(2, os.cpu_count() or 2))
    options.set_write_buffer_size(64 * 1024 * 1024)
    options.set_max_background_jobs(2)
    db = rocksdict.Rdict(str(workdir / "reference-db"), options)
    base = rss_mb()
    start, cpu = time.perf_counter(), cpu_seconds()
    count = 0
    batch = rocksdict.WriteBatch(raw_mode=True)
    for row in engine_core.json_array_rows(path, 1 << 18):
        batch.put(str(uuid.uuid4()).encode(), orjson.dumps(row))
        count += 1
        if count % 1000 == 0:
            db.write(batch)
            batch = rocksdict.WriteBatch(raw_mode=True)
    if batch.len():
        db.write(batch)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    db.close()
    return {
        "records": count,
        "seconds": elapsed,
        "cpu": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "base_rss_mb": base,
    }


def child_batch(
    path: Path,
    workdir: Path,
    dry_run: bool,
    txlog: bool = True,
    after_dry: bool = False,
    remember: bool = True,
    engine_process: bool = True,
) -> dict[str, Any]:
    """Run the batch through BatchService + BatchRunner on a fresh gateway root, in this thread
    (``txlog``: ``logging.transaction_log``, one entry per table per commit group; ``after_dry``:
    a dry-run batch of the same files first, not timed; ``remember``: ``import.checked_files`` on;
    ``engine_process``: False keeps the engine in this process whatever the file's size). CPU
    seconds include the engine process's (a child this process waited for)."""
    sys.path.insert(0, str(ROOT))
    from gateway.app import open_gateway
    from gateway.config import load_config

    overrides = {
        "import.job_start_delay": 0,
        "logging.transaction_log": txlog,
        "import.checked_files": 1000 if remember else 0,
    }
    if not engine_process:
        overrides["import.engine_process_min_bytes"] = 0
    config = load_config(workdir / "root", environ={}, overrides=overrides)
    gateway = open_gateway(config)
    try:
        family = gateway.imports
        family.models.add(MODEL)
        service, runner = family.batches, family.runner
        control = service.upload_control(json.dumps(CONTROL).encode(), "bench")
        digest, size = engine_core.store_blob(family.blobs, path)
        files = [{"name": "people", "file": {"digest": digest, "fileSize": size, "filename": path.name}}]
        if after_dry:
            first = service.create_batch(control["digest"], "bench", state="ready", files=files)["identifier"]
            service.schedule(first, True)
            runner.run(first)
            if service.get(first)["state"] != "dry-run" or len(runner.checked) != int(remember):
                raise SystemExit(f"benchmark dry run failed: {service.get(first)['state']}")
        batch = service.create_batch(control["digest"], "bench", state="ready", files=files)
        identifier = batch["identifier"]
        service.schedule(identifier, dry_run)
        base = rss_mb()
        start, cpu, engine_cpu = time.perf_counter(), cpu_seconds(), children_cpu_seconds()
        with EnginePeak() as engine_peak:
            runner.run(identifier)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        engine_cpu = children_cpu_seconds() - engine_cpu
        peak = peak_rss_mb()
        row = service.get(identifier)
        records = int(row["progress"]["records_done"])
        pk = gateway.storage.catalog.table(MODEL["database"], "profile").primary_key
        stored = sum(1 for _ in gateway.storage.records.index_items(MODEL["database"], "profile", pk))
    finally:
        gateway.storage.close()
    expected = ("dry-run", 0) if dry_run else ("complete", records)
    if (row["state"], stored) != expected or row["errors"]:
        raise SystemExit(f"benchmark batch failed: {row['state']} {row['errors']} errors, {stored} stored")
    return {
        "records": records,
        "seconds": elapsed,
        "cpu": cpu,
        "peak_rss_mb": peak,
        "base_rss_mb": base,
        "child_peak_mb": engine_peak.peak_mb,
        "engine_cpu": engine_cpu,
        "stored": stored,
    }


def run_child(kind: str, path: Path, workdir: Path, checkout: Path = ROOT) -> dict[str, Any]:
    """One run of ``kind`` in a fresh process, by the ``bench/engine.py`` of ``checkout`` (its code)."""
    rundir = workdir / f"{kind}-{path.stem}"
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir(parents=True)
    script = checkout / "bench" / "engine.py"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    try:
        out = subprocess.run(
            [sys.executable, str(script), "--child", kind, "--file", str(path), "--workdir", str(rundir)],
            check=True,
            capture_output=True,
            text=True,
            cwd=checkout,
            env=env,
        )
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{kind} run failed:\n{exc.stdout}\n{exc.stderr}") from exc
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def compare(path: Path, workdir: Path, runs: int, kinds: tuple[str, str], setting: str) -> None:
    """The real batch as ``kinds`` (``setting`` off, then on), alternating: medians and the ratio
    (``--txlog``: ``TXLOG_KINDS``; ``--hints``: ``HINTS_KINDS``)."""
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    records = 0
    for _ in range(runs):
        for kind in kinds:
            result = run_child(kind, path, workdir)
            seconds[kind].append(result["seconds"])
            cpu[kind].append(result["cpu"])
            records = result["records"]
    off, on = kinds
    print_off_on(
        "batch import (real)", records, "rec", (seconds[off], seconds[on]), (cpu[off], cpu[on]), setting
    )


def against(path: Path, workdir: Path, other: Path, rounds: int) -> None:
    """The real run by this checkout and by ``other`` (a baseline checkout) on the same file, alternating
    ``rounds`` times: each run's figures, then medians and this/other ratios. CPU seconds are per million
    records, in all and the engine process's own (which a busy machine disturbs less than wall time)."""
    runs: dict[str, list[dict[str, Any]]] = {"this": [], "other": []}
    for round_ in range(1, rounds + 1):
        for name, checkout in (("this", ROOT), ("other", other)):
            result = run_child("real", path, workdir, checkout)
            runs[name].append(result)
            print(f"round {round_} {name:>5}: {figures(result)}", flush=True)
    medians = {}
    for name, results in runs.items():
        medians[name] = {
            key: statistics.median(r[key] / r["records"] * (1e6 if key != "seconds" else 1) for r in results)
            for key in ("seconds", "cpu", "engine_cpu")
            if all(key in r for r in results)
        }
    records = runs["this"][0]["records"]
    for name in runs:
        m = medians[name]
        engine = f", engine process {m['engine_cpu']:.2f}" if "engine_cpu" in m else ""
        print(
            f"median {name:>5} ({ROOT if name == 'this' else other}): {1 / m['seconds']:,.0f} records/s, "
            f"CPU s per 1M records {m['cpu']:.2f}{engine}"
        )
    this, base = medians["this"], medians["other"]
    print(
        f"this/other: records/s {base['seconds'] / this['seconds']:.3f}x, CPU per record {this['cpu'] / base['cpu']:.3f}x"
        + (
            f", engine process CPU per record {this['engine_cpu'] / base['engine_cpu']:.3f}x"
            if "engine_cpu" in this and "engine_cpu" in base
            else ""
        )
        + f" ({records:,} records, {rounds} rounds)"
    )


def figures(result: dict[str, Any]) -> str:
    """One run's records/s and CPU seconds per million records (the engine process's where known)."""
    per_m = 1e6 / result["records"]
    engine = f", engine process {result['engine_cpu'] * per_m:.2f}" if "engine_cpu" in result else ""
    return (
        f"{result['records'] / result['seconds']:,.0f} records/s, CPU s per 1M records {result['cpu'] * per_m:.2f}"
        f"{engine}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated record counts")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep the data files")
    parser.add_argument(
        "--txlog",
        type=int,
        metavar="RUNS",
        help="only the real run, with the transaction log off and on, alternating RUNS times each (medians)",
    )
    parser.add_argument(
        "--hints",
        type=int,
        metavar="RUNS",
        help="only the real run after a dry run of the same file, its check made again and remembered, "
        "alternating RUNS times each (medians)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="CHECKOUT",
        help="only the real run, by this checkout and by CHECKOUT's bench/engine.py (a baseline), alternating",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --against (default 3)")
    parser.add_argument("--child", choices=(*KINDS, *TXLOG_KINDS, *HINTS_KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "reference":
            result = child_reference(args.file, args.workdir)
        else:
            txlog = args.child != "real-notxlog"
            result = child_batch(
                args.file,
                args.workdir,
                dry_run=args.child == "dry-run",
                txlog=txlog,
                after_dry=args.child.startswith("real-after-dry"),
                remember=args.child != "real-after-dry-unremembered",
                engine_process=args.child != "real-1proc",
            )
        print(json.dumps(result))
        return
    sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-engine-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"{'records':>9} {'run':>14} {'wall s':>8} {'rec/s':>10} {'cpu s':>8} {'rec/cpu-s':>10} "
        f"{'peak MB':>8} {'base MB':>8} {'child MB':>8}"
    )
    try:
        for count in sizes:
            path = workdir / f"people-{count}.json"
            if not path.exists():
                generate(path, count)
            if args.txlog:
                compare(path, workdir, args.txlog, TXLOG_KINDS, "transaction log")
                continue
            if args.hints:
                compare(path, workdir, args.hints, HINTS_KINDS, "check remembered from a dry run")
                continue
            if args.against:
                against(path, workdir, args.against.resolve(), args.rounds)
                continue
            results = {kind: run_child(kind, path, workdir) for kind in KINDS}
            for kind, r in results.items():
                print(
                    f"{r['records']:>9} {kind:>14} {r['seconds']:>8.2f} {r['records'] / r['seconds']:>10,.0f} "
                    f"{r['cpu']:>8.2f} {r['records'] / r['cpu']:>10,.0f} {r['peak_rss_mb']:>8.0f} "
                    f"{r['base_rss_mb']:>8.0f} {r.get('child_peak_mb', 0):>8.0f}"
                )
            ref = results["reference"]
            for kind in ("dry-run", "real-1proc", "real", "real-after-dry"):
                r = results[kind]
                print(
                    f"{'':>9} {kind + '/ref':>18} {r['seconds'] / ref['seconds']:.2f}x wall, "
                    f"{r['cpu'] / ref['cpu']:.2f}x cpu"
                )
            real, after = results["real"], results["real-after-dry"]
            print(
                f"{'':>9} {'after-dry/real':>18} {after['seconds'] / real['seconds']:.2f}x wall, "
                f"{after['cpu'] / real['cpu']:.2f}x cpu (one run each, warm-up included: --hints RUNS isolates the check)"
            )
            print(f"{'':>9} file {path.stat().st_size / 1e6:.0f} MB")
            if not args.keep:
                path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times suffer when it is high)"
    )


if __name__ == "__main__":
    main()
