"""Benchmark of import batches run by ``gateway worker`` processes on PostgreSQL: one worker on
one batch, then two workers on two batches, in the same run.

The batch is bench/engine.py's (the person model with an email lookup name, its control
file of 9 instructions, a generated JSON array of ``--records`` people; bench/engine_core.py).
Each measurement is on a fresh schema of a database the benchmark makes (and drops at the
end): the model, the control file and the data file are stored (files on the local
filesystem under one root the workers share), the batches are created, the ``gateway
worker --concurrency 1`` processes are started and, once each takes work, every batch is
scheduled at once. The times are the batches' own ``START:`` and ``END:`` log lines (the
run in the worker, without process start-up):

* ``1 worker``: records/s of the one batch;
* ``2 workers``: records/s of each batch, and combined: all records over the time from the
  first START to the last END; the ratio of that combined rate to one worker's;
* ``rocksdb``: the same batch on the embedded backend (a fresh root, run by the batch
  runner in this process, as ``gateway serve`` runs it), the baseline of the ratio
  ``pg/rocks`` (one worker's rate over it): the machine may be shared, so the two
  backends are compared in the same run.

Also printed: records per CPU-second of the workers and of the PostgreSQL server processes
serving the benchmark's database (when the server is on this machine), figures that do
not depend on what else the machine runs: on two cores the one-batch rate cannot pass
the smaller of the two.

With ``--runs`` above 1 the two measurements alternate and medians are printed.
``--profile`` instead runs one batch in this process under cProfile (the batch runner's
own code, no worker) and prints where the time goes.

    python bench/workers.py                        # 200k records a batch, 3 runs
    python bench/workers.py --records 1000000 --runs 1
    python bench/workers.py --records 100000 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import datetime
import json
import logging
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import engine_core  # bench/engine_core.py, beside this script: the model, control file and data
from postgres import create_database, drop_database  # bench/postgres.py

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = (
    os.environ.get("GATEWAY_TEST_POSTGRES_DSN") or "postgresql://postgres@127.0.0.1:5432/postgres"
)
MODEL: dict[str, Any] = copy.deepcopy(engine_core.MODEL)
MODEL["destinations"][0]["lookupNames"] = ["email"]
READY = "gateway: worker running"


def _overrides(dsn: str, schema: str) -> dict[str, Any]:
    return {
        "storage.backend": "postgres",
        "storage.postgres.dsn": dsn,
        "storage.postgres.schema": schema,
        "import.job_start_delay": 0,
    }


def _open(root: Path, dsn: str, schema: str) -> Any:
    """A gateway on ``schema`` of PostgreSQL (``dsn``), or on an embedded RocksDB store without one."""
    sys.path.insert(0, str(ROOT))
    from gateway.app import open_gateway
    from gateway.config import load_config

    overrides = _overrides(dsn, schema) if dsn else {"import.job_start_delay": 0}
    return open_gateway(load_config(root, environ={}, overrides=overrides))


def _close(gateway: Any, root: Path) -> None:
    """Close a gateway opened by :func:`_open` and remove its root (its log handler with it)."""
    gateway.storage.close()
    logging.getLogger("gateway").handlers.clear()
    shutil.rmtree(root, ignore_errors=True)


def _create_batches(gateway: Any, path: Path, count: int) -> list[str]:
    family = gateway.imports
    if family.models.get(MODEL["name"]) is None:
        family.models.add(MODEL)
    control = family.batches.upload_control(json.dumps(engine_core.CONTROL).encode(), "bench")
    digest, size = engine_core.store_blob(family.blobs, path)
    files = [{"name": "people", "file": {"digest": digest, "fileSize": size, "filename": path.name}}]
    return [
        family.batches.create_batch(control["digest"], "bench", state="ready", files=files)["identifier"]
        for _ in range(count)
    ]


def _stamp(log: str, prefix: str) -> float:
    for line in log.split("\n"):
        if line.startswith(prefix):
            text = line[len(prefix) :].strip().replace("Z", "+00:00")
            return datetime.datetime.fromisoformat(text).timestamp()
    raise ValueError(f"no {prefix!r} line in the batch log:\n{log}")


def _start_worker(root: Path, dsn: str, schema: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_" + k.upper().replace(".", "_"): str(v) for k, v in _overrides(dsn, schema).items()})
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "GATEWAY_ADMIN_PASSWORD": "bench-pw"})
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "worker", "--root", str(root), "--concurrency", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 120
    while READY not in log_path.read_text("utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(
                f"gateway worker did not start:\n{log_path.read_text('utf-8', errors='replace')}"
            )
        time.sleep(0.05)
    return process


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text("ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds of each server process connected to the benchmark's database (empty if the
    server is not on this machine): what PostgreSQL spends on the batches beside the workers."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [
            int(pid)
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = _cpu(pid)
    return found


def measure(path: Path, work: Path, dsn: str, workers: int) -> dict[str, Any]:
    """``workers`` worker processes on as many batches of ``path``; per-batch and combined records/s."""
    schema = "bench_" + uuid.uuid4().hex[:12]
    root = work / f"root-{schema}"
    gateway = _open(root, dsn, schema)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        batches = _create_batches(gateway, path, workers)
        processes = [
            _start_worker(root, dsn, schema, work / f"worker-{schema}-{n}.log") for n in range(workers)
        ]
        time.sleep(1.0)  # a worker listens for new jobs just after it says it runs
        cpu = [_cpu(p.pid) for p in processes]
        server = _server_cpu(dsn)
        for batch in batches:
            gateway.imports.batches.schedule(batch, False)
        rows = []
        deadline = time.monotonic() + 7200
        for batch in batches:
            while (row := gateway.imports.batches.get(batch))["state"] in ("scheduled", "running"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"batch {batch} did not finish")
                time.sleep(0.2)
            if row["state"] != "complete" or row["errors"]:
                raise SystemExit(f"batch ended {row['state']} with {row['errors']} error(s):\n{row['log']}")
            rows.append(row)
        cpu = [_cpu(p.pid) - before for p, before in zip(processes, cpu, strict=True)]
        server_cpu = sum(t - server.get(pid, 0.0) for pid, t in _server_cpu(dsn).items())
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
        _close(gateway, root)
    spans = [(_stamp(r["log"], "START: "), _stamp(r["log"], "END: ")) for r in rows]
    records = [int(r["progress"]["records_done"]) for r in rows]
    each = [n / (end - start) for n, (start, end) in zip(records, spans, strict=True)]
    overall = sum(records) / (max(end for _, end in spans) - min(start for start, _ in spans))
    seconds = [end - start for start, end in spans]
    first = min(start for start, _ in spans)
    return {
        "each": each,
        "combined": overall,
        "seconds": seconds,
        "per_cpu": sum(records) / sum(cpu),
        "per_server_cpu": sum(records) / server_cpu if server_cpu > 0 else float("nan"),
        "spans": [(start - first, end - first) for start, end in spans],
    }


def measure_rocks(path: Path, work: Path) -> float:
    """Records/s of one batch of ``path`` on the embedded backend, run by the batch runner here."""
    root = work / f"root-rocks-{uuid.uuid4().hex[:12]}"
    gateway = _open(root, "", "")
    try:
        [batch] = _create_batches(gateway, path, 1)
        gateway.imports.batches.schedule(batch, False)
        gateway.imports.runner.run(batch)
        row = gateway.imports.batches.get(batch)
    finally:
        _close(gateway, root)
    if row["state"] != "complete" or row["errors"]:
        raise SystemExit(f"rocksdb batch ended {row['state']} with {row['errors']} error(s):\n{row['log']}")
    seconds = _stamp(row["log"], "END: ") - _stamp(row["log"], "START: ")
    return int(row["progress"]["records_done"]) / seconds


def profile(path: Path, work: Path, dsn: str, top: int) -> None:
    """One batch run by the batch runner in this process under cProfile; the top functions."""
    schema = "bench_" + uuid.uuid4().hex[:12]
    root = work / f"root-{schema}"
    gateway = _open(root, dsn, schema)
    try:
        [batch] = _create_batches(gateway, path, 1)
        gateway.imports.batches.schedule(batch, False)  # queued: no worker runs here, the runner below does
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.runcall(gateway.imports.runner.run, batch)
        elapsed = time.perf_counter() - started
        row = gateway.imports.batches.get(batch)
    finally:
        gateway.storage.close()
    records = int(row["progress"]["records_done"])
    print(
        f"{records:,} records in {elapsed:.2f} s under cProfile ({records / elapsed:,.0f} records/s), {row['state']}"
    )
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000, help="records in each batch")
    parser.add_argument("--runs", type=int, default=3, help="measurements of each (medians are printed)")
    parser.add_argument("--dsn", default=DEFAULT_SERVER, help="a server where the user may create databases")
    parser.add_argument("--profile", action="store_true", help="profile one batch in this process instead")
    parser.add_argument("--top", type=int, default=25, help="functions printed with --profile")
    args = parser.parse_args()
    name, dsn, version = create_database(args.dsn, "gateway_bench_workers")
    print(
        f"workers benchmark: {os.cpu_count()} cpu(s), python {sys.version.split()[0]}, PostgreSQL {version}, "
        f"{args.records:,} records a batch"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
            work = Path(scratch)
            path = work / f"people-{args.records}.json"
            engine_core.write_records(path, args.records)
            if args.profile:
                profile(path, work, dsn, args.top)
                return
            ones, twos, rocks = [], [], []
            for _ in range(args.runs):
                ones.append(measure(path, work, dsn, 1))
                twos.append(measure(path, work, dsn, 2))
                rocks.append(measure_rocks(path, work))
                one, two = ones[-1], twos[-1]
                print(
                    f"  run: 1 worker {one['each'][0]:,.0f} rec/s ({one['seconds'][0]:.1f} s) | rocksdb "
                    f"{rocks[-1]:,.0f} rec/s, pg/rocks {one['each'][0] / rocks[-1]:.2f} | 2 workers "
                    + " + ".join(f"{r:,.0f}" for r in two["each"])
                    + f" rec/s, combined {two['combined']:,.0f} rec/s | records per worker CPU-second "
                    f"{one['per_cpu']:,.0f}, {two['per_cpu']:,.0f}, per server CPU-second {one['per_server_cpu']:,.0f}, "
                    f"{two['per_server_cpu']:,.0f} | 2 batches ran "
                    + ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in two["spans"]),
                    flush=True,
                )
            single = statistics.median(r["each"][0] for r in ones)
            pair = [statistics.median(r["each"][n] for r in twos) for n in range(2)]
            combined = statistics.median(r["combined"] for r in twos)
            ratio = statistics.median(r["each"][0] / rock for r, rock in zip(ones, rocks, strict=True))
            print(
                f"median of {args.runs}: 1 worker on 1 batch {single:,.0f} records/s | rocksdb "
                f"{statistics.median(rocks):,.0f} records/s, pg/rocks {ratio:.2f} | 2 workers on 2 batches "
                f"{pair[0]:,.0f} + {pair[1]:,.0f} records/s, combined {combined:,.0f} records/s "
                f"({combined / single:.2f}x one worker); "
                f"{statistics.median(r['per_cpu'] for r in ones + twos):,.0f} records per worker CPU-second, "
                f"{statistics.median(r['per_server_cpu'] for r in ones + twos):,.0f} per PostgreSQL CPU-second"
            )
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        drop_database(args.dsn, name)


if __name__ == "__main__":
    main()
