"""Benchmark of the PostgreSQL backend: a bulk load against PostgreSQL's own COPY, and point reads.

The CSV is bench/bulk.py's (8 columns: id int, name, city with 200 distinct values,
age, score, active, joined, a quoted note with commas; ``city`` indexed). In one run,
on one server, each measurement a few times (the median is printed):

* ``gateway``: the app (TestClient, real lifespan) on ``storage.backend: postgres``
  in a fresh schema runs ``csv_file_load`` (the real loader: Arrow parse, encoded
  chunks through the ChunkWrites port, binary COPYs); the job's own start and end;
* ``copy``: ``COPY … FROM STDIN (FORMAT csv)`` of the same file into a plain table of
  the same shape (typed columns, primary key on id, an index on city), what
  PostgreSQL itself does with the rows;
* point reads: ``get_many`` of one key through the Records port, and ``search_by_id``
  of one id through the app, on the loaded PostgreSQL table and on the same rows in
  the embedded RocksDB backend.

Printed: rows/s of each load and their ratio (goal: at least 100k rows/s and 0.7x of
COPY), microseconds per point read on each backend and their ratio.

    python bench/postgres.py                      # 1M rows, 3 runs each
    python bench/postgres.py --rows 100000 --runs 1
    python bench/postgres.py --dsn postgresql://postgres@127.0.0.1:5432/postgres

The server DSN (``--dsn``, default ``$GATEWAY_TEST_POSTGRES_DSN`` or the local
postgres user) must allow creating a database: the benchmark makes its own and
drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import bulk  # bench/bulk.py, beside this script: the CSV generator and the table's attributes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = (
    os.environ.get("GATEWAY_TEST_POSTGRES_DSN") or "postgresql://postgres@127.0.0.1:5432/postgres"
)
PLAIN_TABLE = """CREATE TABLE plain_people (
    id integer PRIMARY KEY, name text, city text, age integer, score double precision,
    active boolean, joined date, note text
)"""
READS = 3_000


def _client(root: Path, overrides: dict[str, Any]) -> Any:
    sys.path.insert(0, str(ROOT))
    from starlette.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import load_config

    config = load_config(root=root, environ={}, overrides=overrides)
    return TestClient(create_app(config, admin_username="admin", admin_password="bench-password"))


def _ops(client: Any) -> Any:
    def op(body: dict[str, Any]) -> Any:
        response = client.post("/", json=body, auth=("admin", "bench-password"))
        assert response.status_code == 200, response.text
        return response.json()

    return op


def _finish(op: Any, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        job = op({"operation": "get_job", "id": job_id})[0]
        if job["status"] != "IN_PROGRESS":
            assert job["status"] == "COMPLETE", job
            return dict(job)
        time.sleep(0.1)
    raise TimeoutError(job_id)


def _point_reads(client: Any, rows: int) -> dict[str, float]:
    """Microseconds per get_many of one key (the port) and per search_by_id (the app)."""
    storage = client.app.state.gateway.storage
    op = _ops(client)
    rng = random.Random(7)
    keys = [rng.randint(1, rows) for _ in range(READS)]
    started = time.perf_counter()
    for key in keys:
        found = storage.records.get_many("bench", "people", [key])
        assert found[0] is not None
    port_us = (time.perf_counter() - started) / READS * 1e6
    started = time.perf_counter()
    for key in keys[: READS // 3]:
        found = op(
            {
                "operation": "search_by_id",
                "database": "bench",
                "table": "people",
                "ids": [key],
                "get_attributes": ["*"],
            }
        )
        assert found and found[0]["id"] == key
    http_us = (time.perf_counter() - started) / (READS // 3) * 1e6
    return {"get_many_us": port_us, "search_by_id_us": http_us}


def run_gateway(csv_path: Path, work: Path, backend: str, dsn: str, rows: int) -> dict[str, Any]:
    """csv_file_load through the app on ``backend``, then point reads (in this child process)."""
    root = work / "root"
    (root / "import").mkdir(parents=True)
    target = root / "import" / csv_path.name
    if csv_path.stat().st_dev == root.stat().st_dev:
        os.link(csv_path, target)
    else:
        target.write_bytes(csv_path.read_bytes())
    overrides: dict[str, Any] = {}
    if backend == "postgres":
        overrides = {
            "storage.backend": "postgres",
            "storage.postgres.dsn": dsn,
            "storage.postgres.schema": "bench_" + uuid.uuid4().hex[:12],
        }
    out: dict[str, Any] = {}
    with _client(root, overrides) as client:
        op = _ops(client)
        op(
            {
                "operation": "create_table",
                "database": "bench",
                "table": "people",
                "attributes": bulk.ATTRIBUTES,
            }
        )
        job_id = op(
            {
                "operation": "csv_file_load",
                "action": "insert",
                "database": "bench",
                "table": "people",
                "file_path": str(target),
            }
        )["job_id"]
        job = _finish(op, job_id)
        out["load_s"] = (job["end_datetime"] - job["created_datetime"]) / 1000.0
        out["message"] = job["message"]
        count = op({"operation": "describe_table", "database": "bench", "table": "people"})["record_count"]
        assert count == rows, count
        out.update(_point_reads(client, rows))
    return out


def run_copy(csv_path: Path, dsn: str) -> float:
    """Seconds PostgreSQL takes to COPY the CSV into a plain table of the same shape (and commit)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS plain_people")
        conn.execute(PLAIN_TABLE)
        conn.execute("CREATE INDEX plain_people_city ON plain_people (city)")
        started = time.perf_counter()
        with (
            open(csv_path, "rb") as source,
            conn.transaction(),
            conn.cursor().copy("COPY plain_people FROM STDIN (FORMAT csv, HEADER)") as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE plain_people")
    return elapsed


def child(csv_path: Path, backend: str, dsn: str, rows: int) -> dict[str, Any]:
    """One gateway measurement in a fresh process; its JSON report."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-", dir=csv_path.parent) as work:
        command = [sys.executable, __file__, "--child", backend, str(csv_path), work, dsn, str(rows)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if done.returncode:
        raise SystemExit(f"{backend} run failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def create_database(server: str, prefix: str) -> tuple[str, str, str]:
    """A database of the benchmark's own on ``server``: its name, its DSN and the server's version."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return name, make_conninfo(server, dbname=name), str(version)


def drop_database(server: str, name: str) -> None:
    """Drop the benchmark's database (closing what is still connected)."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="measurements of each (the median is printed)")
    parser.add_argument("--dsn", default=DEFAULT_SERVER, help="a server where the user may create databases")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, csv_name, work, dsn, rows = args.child
        print(json.dumps(run_gateway(Path(csv_name), Path(work), backend, dsn, int(rows))))
        return
    name, dsn, version = create_database(args.dsn, "gateway_bench")
    print(
        f"postgres benchmark: {os.cpu_count()} cpu(s), python {sys.version.split()[0]}, PostgreSQL {version}"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-postgres-") as scratch:
            csv_path = Path(scratch) / f"people-{args.rows}.csv"
            bulk.generate(csv_path, args.rows)
            copies, loads = [], []
            for _ in range(args.runs):
                copies.append(run_copy(csv_path, dsn))
                loads.append(child(csv_path, "postgres", dsn, args.rows))
            rocks = child(csv_path, "rocksdb", dsn, args.rows)
            copy_s = statistics.median(copies)
            load_s = statistics.median(r["load_s"] for r in loads)
            rows = args.rows
            print(
                f"{rows:>9,} rows ({csv_path.stat().st_size / 1e6:.0f} MB), median of {args.runs}: "
                f"csv_file_load on postgres {rows / load_s:,.0f} rows/s ({load_s:.2f} s) | "
                f"plain COPY {rows / copy_s:,.0f} rows/s ({copy_s:.2f} s) | ratio {copy_s / load_s:.2f}x of COPY"
            )
            each_load = ", ".join(f"{r['load_s']:.2f}" for r in loads)
            each_copy = ", ".join(f"{c:.2f}" for c in copies)
            print(
                f"{'':>9}  loads {each_load} s; copies {each_copy} s; "
                f"the same load on rocksdb {rows / rocks['load_s']:,.0f} rows/s"
            )
            for what, label in (
                ("get_many_us", "get_many of 1 key"),
                ("search_by_id_us", "search_by_id of 1 id"),
            ):
                pg = statistics.median(r[what] for r in loads)
                print(
                    f"{'':>9}  {label}: postgres {pg:,.0f} us, rocksdb {rocks[what]:,.0f} us "
                    f"({pg / rocks[what]:.1f}x)"
                )
    finally:
        drop_database(args.dsn, name)


if __name__ == "__main__":
    main()
