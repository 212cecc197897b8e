"""Benchmark of bulk loads and exports through the real operations, against a naive loader.

For each size (default 100k and 1M rows; ``--flat`` adds 3M for the memory
flatness check) a CSV is generated (id int, name, city with 200 distinct values,
age int, score float, active true/false, joined ISO date, a quoted note with
commas). Then, each in its own child process (so peak RSS is that run's own):

* ``gateway``: the app (TestClient, real lifespan, real RocksDB) creates a table
  whose ``attributes`` index ``city``, runs ``csv_file_load`` and polls
  ``get_job`` to COMPLETE, then ``export_local`` as JSON and as CSV
  (``--in-process`` also measures the load without the parse worker process);
* ``naive``: csv.DictReader, per-cell try-int/try-float casting, json.dumps per
  record and one RocksDB put per key (record and city index) into a rocksdict in
  raw mode, the straightforward loader.

Printed: rows/s of each, their ratio, peak RSS of each process, export rows/s.

Then the default-table load (issue 15): a fresh ``gateway serve`` (its own process)
creates a table without a schema (every attribute indexed) and runs
``csv_file_load``; printed are the server's peak RSS (VmHWM), the store's size on
disk once it stops changing (after the load's background compaction) beside the
CSV's size and their ratio, and describe_table's ``table_size`` (``--default-repeat N``: N runs
each, medians of the peak and of the server's CPU seconds during the load). With
``--baseline DIR`` (a checkout of the code before a change, e.g. /work/main) the
same measures and the one-index load's rows/s (median of ``--repeat`` runs) are
taken with that code too, in the same run, each run alternating before/after.


    python bench/bulk.py               # 100k and 1M
    python bench/bulk.py --flat        # and 3M
    python bench/bulk.py --rows 20000  # quick run
    python bench/bulk.py --rows 1000000 --rows 3000000 --baseline /work/main --no-naive
    python bench/bulk.py --rows 200000 --txlog 3   # the load with the transaction log off and on,
                                                   # alternating, 3 runs each: medians and their ratio
    python bench/bulk.py --rows 1000000 --unlogged 5  # storage.rocksdb.unlogged_loads off and on,
                                                      # alternating: the one-index load 5 times each
                                                      # (medians), then the default-table load's peak
                                                      # RSS and disk (--default-repeat times each)
"""

from __future__ import annotations

import argparse
import csv
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
from pathlib import Path
from typing import Any

from off_on import print_off_on  # bench/off_on.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
CITIES = [f"City {i:03d}" for i in range(200)]
FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Edsger", "Frances", "Donald", "Radia"]
ATTRIBUTES = [
    {"name": "id", "type": "Int", "isPrimaryKey": True},
    {"name": "name", "type": "String"},
    {"name": "city", "type": "String", "indexed": True},
    {"name": "age", "type": "Int"},
    {"name": "score", "type": "Float"},
    {"name": "active", "type": "Boolean"},
    {"name": "joined", "type": "Date"},
    {"name": "note", "type": "String"},
]


def generate(path: Path, rows: int) -> None:
    """Write the benchmark CSV."""
    rng = random.Random(42)
    with open(path, "w", newline="", encoding="utf-8", buffering=1 << 20) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "name", "city", "age", "score", "active", "joined", "note"])
        for i in range(1, rows + 1):
            writer.writerow(
                [
                    i,
                    f"{rng.choice(FIRST)} {i}",
                    CITIES[i % 200],
                    18 + i % 70,
                    f"{rng.random() * 100:.3f}",
                    "true" if i % 3 else "false",
                    f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    f"note {i}, with a comma, and more",
                ]
            )


def _cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the parse worker)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _csv_file_load(target: Path) -> dict[str, Any]:
    """The csv_file_load request of ``target`` into bench.people."""
    return {
        "operation": "csv_file_load",
        "action": "insert",
        "database": "bench",
        "table": "people",
        "file_path": str(target),
    }


def run_gateway(
    csv_path: Path,
    work: Path,
    in_process: bool = False,
    txlog: bool = True,
    exports: bool = True,
    unlogged: bool | None = None,
) -> dict[str, Any]:
    """The real csv_file_load and export_local operations (in this child process); ``txlog``:
    ``logging.transaction_log`` (each chunk's keys logged in the chunk's WriteBatch); ``unlogged``:
    ``storage.rocksdb.unlogged_loads`` (None: the default of the code measured, which may not know
    it). The code imported is that of ``PYTHONPATH``'s first entry, else this checkout."""
    sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or str(ROOT))
    from starlette.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import load_config

    root = work / "root"
    (root / "import").mkdir(parents=True)
    (root / "export").mkdir(parents=True)
    target = root / "import" / csv_path.name
    if csv_path.stat().st_dev == root.stat().st_dev:
        os.link(csv_path, target)
    else:
        shutil.copy(csv_path, target)
    overrides: dict[str, Any] = {"bulk.parse_worker_min_bytes": 0} if in_process else {}
    if not txlog:  # on by default (and unknown to code from before the transaction log)
        overrides["logging.transaction_log"] = False
    if unlogged is not None:  # set only when asked (unknown to code from before it)
        overrides["storage.rocksdb.unlogged_loads"] = unlogged
    config = load_config(root=root, environ={}, overrides=overrides)
    app = create_app(config, admin_username="admin", admin_password="bench-password")
    auth = ("admin", "bench-password")
    out: dict[str, Any] = {}
    with TestClient(app) as client:

        def op(body: dict[str, Any]) -> Any:
            response = client.post("/", json=body, auth=auth)
            assert response.status_code == 200, response.text
            return response.json()

        def finish(job_id: str) -> dict[str, Any]:
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                job = op({"operation": "get_job", "id": job_id})[0]
                if job["status"] != "IN_PROGRESS":
                    assert job["status"] == "COMPLETE", job
                    return dict(job)
                time.sleep(0.25)
            raise TimeoutError(job_id)

        op({"operation": "create_table", "database": "bench", "table": "people", "attributes": ATTRIBUTES})
        cpu = _cpu_seconds()
        started = time.perf_counter()
        job_id = op(_csv_file_load(target))["job_id"]
        job = finish(job_id)
        # The job's own start and end (ms): no polling delay, no request overhead in the figure.
        out["load_s"] = (job["end_datetime"] - job["created_datetime"]) / 1000.0
        out["load_wall_s"] = time.perf_counter() - started
        out["load_cpu_s"] = _cpu_seconds() - cpu  # this process (RocksDB's threads too) and the parse worker
        out["load_message"] = job["message"]
        out["load_rss_mb"] = peak_rss_mb()
        out["worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        for fmt in ("json", "csv") if exports else ():
            started = time.perf_counter()
            job_id = op(
                {
                    "operation": "export_local",
                    "format": fmt,
                    "path": str(root / "export"),
                    "search_operation": {
                        "operation": "search_by_value",
                        "database": "bench",
                        "table": "people",
                        "search_attribute": "id",
                        "search_value": "*",
                        "get_attributes": ["*"],
                    },
                }
            )["job_id"]
            job = finish(job_id)
            out[f"export_{fmt}_s"] = (job["end_datetime"] - job["created_datetime"]) / 1000.0
            out[f"export_{fmt}_bytes"] = Path(job["result"]["path"]).stat().st_size
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _naive_cast(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def run_naive(csv_path: Path, work: Path) -> dict[str, Any]:
    """csv.DictReader + per-cell casting + json.dumps + one put per key (in this child process)."""
    import rocksdict

    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    db = rocksdict.Rdict(str(work / "naive-db"), options)
    index = db.create_column_family("city", options)
    started = time.perf_counter()
    count = 0
    with open(csv_path, newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            record = {k: _naive_cast(v) for k, v in row.items()}
            key = str(record["id"]).encode()
            db[key] = json.dumps(record).encode()
            index[str(record["city"]).encode() + b"\x00" + key] = b""
            count += 1
    db.flush_wal(True)
    elapsed = time.perf_counter() - started
    db.close()
    return {"load_s": elapsed, "rows": count, "peak_rss_mb": peak_rss_mb()}


def _worker(report: dict[str, Any]) -> str:
    """The parse worker's peak RSS, when the load used one."""
    worker = report.get("worker_rss_mb", 0.0)
    return f", parse worker {worker:.0f} MB" if worker > 30 else ""


def child(kind: str, csv_path: Path, code: Path = ROOT) -> dict[str, Any]:
    """Run one measurement in a fresh process importing the code at ``code``; its JSON report."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-", dir=csv_path.parent) as work:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(csv_path), work]
        done = subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=7200, env=env, cwd=code
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def off_on_loads(
    csv_path: Path, rows: int, runs: int, kinds: tuple[str, str], label: str, setting: str
) -> None:
    """The load of child ``kinds`` (setting off, on) alternating ``runs`` times each: medians and ratios."""
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind in kinds:
            report = child(kind, csv_path)
            seconds[kind].append(report["load_s"])
            cpu[kind].append(report["load_cpu_s"])
    off, on = kinds
    print_off_on(label, rows, "rows", (seconds[off], seconds[on]), (cpu[off], cpu[on]), setting=setting)


def compare_txlog(csv_path: Path, rows: int, runs: int) -> None:
    """csv_file_load with ``logging.transaction_log`` off and on, alternating: medians and the ratio."""
    off_on_loads(
        csv_path, rows, runs, ("gateway-notxlog", "gateway"), "rows, csv_file_load", "transaction log"
    )


def _tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (files that vanish while counted are skipped)."""
    total = 0
    for entry in path.rglob("*"):
        try:
            total += entry.stat().st_size if entry.is_file() else 0
        except FileNotFoundError:
            continue
    return total


def _vm_hwm_mb(pid: int) -> float:
    """Peak resident set of a running process (``VmHWM``), MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _cpu_seconds_of(pid: int) -> float:
    """CPU seconds a running process has used (user and system, every thread)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def default_load(
    csv_path: Path, code: Path, settle_timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """csv_file_load into a table without a schema on a fresh ``gateway serve`` running ``code``
    (``env``: more of its environment, e.g. a setting)."""
    sys.path.insert(0, str(ROOT))
    from tests.support.server import start_server

    with tempfile.TemporaryDirectory(prefix="bench-default-", dir=csv_path.parent) as work:
        root = Path(work) / "root"
        (root / "import").mkdir(parents=True)
        target = root / "import" / csv_path.name
        os.link(csv_path, target)
        server = start_server(root, {"PYTHONPATH": str(code), **(env or {})}, timeout=120, cwd=code)
        try:

            def op(body: dict[str, Any]) -> Any:
                status, answer = server.op(body, timeout=600)
                assert status == 200, answer
                return answer

            op({"operation": "create_table", "database": "bench", "table": "people", "primary_key": "id"})
            cpu = _cpu_seconds_of(server.process.pid)
            job_id = op(_csv_file_load(target))["job_id"]
            while (job := op({"operation": "get_job", "id": job_id})[0])["status"] == "IN_PROGRESS":
                time.sleep(0.25)
            assert job["status"] == "COMPLETE", job
            load_s = (job["end_datetime"] - job["created_datetime"]) / 1000.0
            load_cpu_s = _cpu_seconds_of(server.process.pid) - cpu  # the polls' few requests too
            store = root / "db"
            sizes = [_tree_bytes(store)]
            deadline = time.monotonic() + settle_timeout
            while time.monotonic() < deadline and not (len(sizes) > 10 and len(set(sizes[-10:])) == 1):
                time.sleep(0.5)
                sizes.append(_tree_bytes(store))
            described = op({"operation": "describe_table", "database": "bench", "table": "people"})
            return {
                "load_s": load_s,
                "load_cpu_s": load_cpu_s,
                "peak_rss_mb": _vm_hwm_mb(server.process.pid),
                "disk_at_end": sizes[0],
                "disk_settled": sizes[-1],
                "settle_s": (len(sizes) - 10) * 0.5,
                "table_size": described["table_size"],
            }
        finally:
            server.stop()


def default_loads(
    csv_path: Path,
    rows: int,
    variants: dict[str, tuple[Path, dict[str, str] | None]],
    args: argparse.Namespace,
) -> None:
    """The default-table load (all indexed) by each variant (its code and server environment), in turn,
    ``--default-repeat`` times: each run's rows/s, CPU, peak RSS and disk, then the medians."""
    csv_bytes = csv_path.stat().st_size
    peaks: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.default_repeat):
        for name, (code, env) in variants.items():
            report = default_load(csv_path, code, args.settle_timeout, env)
            peaks[name].append(report["peak_rss_mb"])
            cpus[name].append(report["load_cpu_s"])
            print(
                f"{'':>9}  {name:>6} default table (all indexed): {rows / report['load_s']:,.0f} rows/s "
                f"({report['load_s']:.2f} s, {report['load_cpu_s']:.2f} CPU s), "
                f"server peak RSS {report['peak_rss_mb']:.0f} MiB; disk {report['disk_at_end'] / 1e6:.0f} MB "
                f"at the end, {report['disk_settled'] / 1e6:.0f} MB settled ({report['settle_s']:.0f} s) for a "
                f"{csv_bytes / 1e6:.0f} MB CSV ({report['disk_settled'] / csv_bytes:.2f}x); "
                f"describe_table {report['table_size'] / 1e6:.0f} MB",
                flush=True,
            )
    if args.default_repeat > 1:
        line = ", ".join(
            f"{name} peak RSS {statistics.median(peaks[name]):.0f} MiB, {statistics.median(cpus[name]):.2f} CPU s"
            for name in variants
        )
        print(f"{'':>9}  default table (median of {args.default_repeat}): {line}", flush=True)


def compare_unlogged(csv_path: Path, rows: int, runs: int, args: argparse.Namespace) -> None:
    """``storage.rocksdb.unlogged_loads`` off and on, alternating: the one-index load ``runs`` times
    each (medians, CPU seconds; 0: not at all), then the default-table load's peak RSS and disk
    ``--default-repeat`` times each."""
    if runs:
        kinds = ("gateway-logged", "gateway-unlogged")
        off_on_loads(csv_path, rows, runs, kinds, "rows, one-index csv_file_load", "unlogged loads")
    variants = {
        f"unlogged loads {which}": (ROOT, {"GATEWAY_STORAGE_ROCKSDB_UNLOGGED_LOADS": value})
        for which, value in (("off", "false"), ("on", "true"))
    }
    default_loads(csv_path, rows, variants, args)


def compare(csv_path: Path, rows: int, args: argparse.Namespace) -> None:
    """The default-table load's memory and disk, and the one-index load's rows/s, before and after."""
    codes = {"after": ROOT} if args.baseline is None else {"before": args.baseline, "after": ROOT}
    default_loads(csv_path, rows, {name: (code, None) for name, code in codes.items()}, args)
    rates: dict[str, list[float]] = {name: [] for name in codes}
    cpus: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(args.repeat):
        for name, code in codes.items():
            report = child("gateway-load", csv_path, code)
            rates[name].append(rows / report["load_s"])
            cpus[name].append(report["load_cpu_s"])
    medians = {name: statistics.median(values) for name, values in rates.items()}
    line = ", ".join(
        f"{name} {medians[name]:,.0f} rows/s ({' '.join(f'{v / 1000:.0f}k' for v in rates[name])}; "
        f"{statistics.median(cpus[name]):.2f} CPU s)"
        for name in codes
    )
    if "before" in medians:
        line += f"; after/before {medians['after'] / medians['before']:.2f}x"
    print(f"{'':>9}  one-index load (median of {args.repeat}): {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, action="append", help="row counts (repeatable)")
    parser.add_argument("--flat", action="store_true", help="also run 3M rows (memory flatness)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive reference loader")
    parser.add_argument(
        "--in-process", action="store_true", help="also measure the load without the parse worker process"
    )
    parser.add_argument(
        "--txlog",
        type=int,
        metavar="RUNS",
        help="only the load, with the transaction log off and on, alternating RUNS times each (medians)",
    )
    parser.add_argument(
        "--unlogged",
        type=int,
        metavar="RUNS",
        help="only the loads, with storage.rocksdb.unlogged_loads off and on, alternating: the one-index "
        "load RUNS times each (0: not), the default-table load --default-repeat times each",
    )
    parser.add_argument(
        "--baseline", type=Path, help="a checkout of the code before the change (e.g. /work/main)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each one-index load measured (median)")
    parser.add_argument(
        "--default-repeat", type=int, default=1, help="runs of each default-table load measured (median)"
    )
    parser.add_argument(
        "--settle-timeout", type=float, default=180.0, help="seconds to wait for the disk size"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, csv_name, work = args.child
        if kind == "naive":
            print(json.dumps(run_naive(Path(csv_name), Path(work))))
        else:
            inproc, txlog, exports, unlogged = (
                kind == "gateway-inproc",
                kind != "gateway-notxlog",
                kind not in ("gateway-load", "gateway-logged", "gateway-unlogged"),
                {"gateway-logged": False, "gateway-unlogged": True}.get(kind),
            )
            print(json.dumps(run_gateway(Path(csv_name), Path(work), inproc, txlog, exports, unlogged)))
        return
    sizes = args.rows or [100_000, 1_000_000]
    if args.flat:
        sizes.append(3_000_000)
    print(f"bulk load benchmark: {os.cpu_count()} cpu(s), python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as scratch:
        for rows in sizes:
            csv_path = Path(scratch) / f"people-{rows}.csv"
            generate(csv_path, rows)
            size_mb = csv_path.stat().st_size / 1e6
            if args.txlog:
                compare_txlog(csv_path, rows, args.txlog)
                csv_path.unlink()
                continue
            if args.unlogged is not None:
                compare_unlogged(csv_path, rows, args.unlogged, args)
                csv_path.unlink()
                continue
            gateway = child("gateway", csv_path)
            line = (
                f"{rows:>9,} rows ({size_mb:.0f} MB): gateway load {rows / gateway['load_s']:,.0f} rows/s "
                f"({gateway['load_s']:.2f} s, peak RSS {gateway['load_rss_mb']:.0f} MB"
                f"{_worker(gateway)})"
            )
            if not args.no_naive:
                naive = child("naive", csv_path)
                line += (
                    f" | naive {rows / naive['load_s']:,.0f} rows/s (peak RSS {naive['peak_rss_mb']:.0f} MB)"
                    f" | ratio {naive['load_s'] / gateway['load_s']:.1f}x"
                )
            print(line)
            if args.in_process:
                alone = child("gateway-inproc", csv_path)
                print(
                    f"{'':>9}        without the parse worker: {rows / alone['load_s']:,.0f} rows/s "
                    f"(peak RSS {alone['load_rss_mb']:.0f} MB{_worker(alone)})"
                )
            print(
                f"{'':>9}        export json {rows / gateway['export_json_s']:,.0f} rows/s "
                f"({gateway['export_json_bytes'] / 1e6:.0f} MB), csv {rows / gateway['export_csv_s']:,.0f} rows/s "
                f"({gateway['export_csv_bytes'] / 1e6:.0f} MB); process peak RSS {gateway['peak_rss_mb']:.0f} MB"
            )
            print(f"{'':>9}        {gateway['load_message']}", flush=True)
            compare(csv_path, rows, args)
            csv_path.unlink()


if __name__ == "__main__":
    main()
