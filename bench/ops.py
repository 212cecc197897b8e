"""Benchmark of the Operations API's core paths, through a real ``gateway serve`` over HTTP.

On a temp root: insert 100,000 records in requests of 1,000 (``insert``), then a few
thousand ``search_by_id`` requests of one id each over one keep-alive connection,
and the server's peak RSS. The baseline, measured in the same run, is the store
itself without HTTP: ``Records.write`` (the RocksDB backend) of the same batches and
``get_many`` of one id, on another temp store. Prints figures and ratios.

    python bench/ops.py [--records 100000] [--batch 1000] [--lookups 5000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.storage.rocksdb import open_rocksdb  # noqa: E402
from tests.support.server import ServerProcess, start_server  # noqa: E402

OWNERS = ["Kyle", "Zach", "Stephen", "Anna", "Maria", "Jo"]


def make_records(count: int) -> list[dict[str, Any]]:
    rng = random.Random(1)
    return [
        {
            "id": i,
            "dog_name": f"dog-{i}",
            "owner_name": rng.choice(OWNERS),
            "age": rng.randint(1, 18),
            "weight_lbs": round(rng.uniform(2, 90), 1),
            "breed_id": rng.randint(1, 400),
            "adorable": rng.random() < 0.9,
        }
        for i in range(count)
    ]


class Client:
    """One keep-alive HTTP connection posting operations as the admin."""

    def __init__(self, server: ServerProcess) -> None:
        host, port = server.url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        self.headers = {"Content-Type": "application/json", "Authorization": server.auth_header()}

    def op(self, body: dict[str, Any]) -> Any:
        self.connection.request("POST", "/", body=json.dumps(body).encode(), headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:300]!r}")
        return json.loads(data)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def bench_server(root: Path, records: list[dict[str, Any]], batch: int, lookups: int) -> dict[str, float]:
    server = start_server(root)
    try:
        client = Client(server)
        client.op({"operation": "create_table", "database": "bench", "table": "dog", "primary_key": "id"})
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            answer = client.op(
                {
                    "operation": "insert",
                    "database": "bench",
                    "table": "dog",
                    "records": records[start : start + batch],
                }
            )
            assert len(answer["inserted_hashes"]) == len(records[start : start + batch]), answer["message"]
        insert_seconds = time.perf_counter() - started
        rng = random.Random(2)
        keys = [rng.randrange(len(records)) for _ in range(lookups)]
        started = time.perf_counter()
        for key in keys:
            rows = client.op(
                {
                    "operation": "search_by_id",
                    "database": "bench",
                    "table": "dog",
                    "ids": [key],
                    "get_attributes": ["*"],
                }
            )
            assert rows[0]["id"] == key
        lookup_seconds = time.perf_counter() - started
        rss = peak_rss_kib(server.process.pid)
    finally:
        server.stop()
    return {
        "insert_rps": len(records) / insert_seconds,
        "lookup_rps": lookups / lookup_seconds,
        "peak_rss_mib": rss / 1024,
    }


def bench_store(path: Path, records: list[dict[str, Any]], batch: int, lookups: int) -> dict[str, float]:
    store = open_rocksdb(path)
    try:
        store.catalog.create_table("bench", "dog")
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            store.records.write("bench", "dog", records[start : start + batch], "insert")
        insert_seconds = time.perf_counter() - started
        rng = random.Random(2)
        keys = [rng.randrange(len(records)) for _ in range(lookups)]
        started = time.perf_counter()
        for key in keys:
            assert store.records.get_many("bench", "dog", [key])[0] is not None
        lookup_seconds = time.perf_counter() - started
    finally:
        store.close()
    return {"insert_rps": len(records) / insert_seconds, "lookup_rps": lookups / lookup_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    args = parser.parse_args()
    records = make_records(args.records)
    with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
        base = bench_store(Path(tmp) / "baseline-db", records, args.batch, args.lookups)
        served = bench_server(Path(tmp) / "root", records, args.batch, args.lookups)
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"records: {args.records} in requests of {args.batch}; search_by_id requests: {args.lookups}")
    print(f"insert via POST / (real server):     {served['insert_rps']:>10,.0f} records/s")
    print(f"insert baseline (store.write):       {base['insert_rps']:>10,.0f} records/s")
    print(f"  ratio HTTP/baseline:               {served['insert_rps'] / base['insert_rps']:>10.2f}")
    print(f"search_by_id via POST / (1 id each): {served['lookup_rps']:>10,.0f} requests/s")
    print(f"get_many baseline (1 id each):       {base['lookup_rps']:>10,.0f} lookups/s")
    print(f"  ratio HTTP/baseline:               {served['lookup_rps'] / base['lookup_rps']:>10.4f}")
    print(f"server peak RSS:                     {served['peak_rss_mib']:>10.1f} MiB")
    print(f"bench process peak RSS (baseline):   {own_rss:>10.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
