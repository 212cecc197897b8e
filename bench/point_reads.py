"""Benchmark of point reads (``search_by_id`` through ``POST /``) against a bare ASGI app, in one run.

For each server setup (``--setups``; by default ``before``: the stdlib asyncio loop and every
operation in a worker thread, as the gateway served until the fast path; ``after``: the
configuration's defaults) it starts a real ``gateway serve`` on 127.0.0.1 (temp root, embedded
RocksDB), loads a ``--records`` table by ``insert`` requests of 1,000, and starts a bare ASGI app
that answers every request with a fixed JSON on the same uvicorn setup (same protocol class, loop and
options, from the same configuration). Then, ``--runs`` times in turn, each server is driven for
``--seconds`` by 1 and by 8 client threads (one keep-alive ``http.client`` connection each, its request bodies
made before the timed part):
``search_by_id`` of 1 random id and of 10 random ids, and the bare app. Prints the medians of the
runs: requests/s, p50 and p99 latency, the ratio to the bare app of the same setup, and the server
process's CPU time per request (user and system, every thread).

    python bench/point_reads.py [--records 100000] [--seconds 3] [--runs 3] [--setups before,after]

A setup written ``NAME@DIR`` runs the gateway of the checkout in ``DIR`` (in that directory, its code first
on PYTHONPATH)
with setup NAME's settings, to compare two versions of the code in one run:
``--setups after@../main,after``.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess, free_port, start_server, stop_process  # noqa: E402

SETUPS: dict[str, dict[str, str]] = {
    "before": {"GATEWAY_HTTP_LOOP": "asyncio", "GATEWAY_HTTP_FAST_PATH": "false"},
    "after": {},
    "asyncio-fast": {"GATEWAY_HTTP_LOOP": "asyncio"},
    "uvloop-threaded": {"GATEWAY_HTTP_LOOP": "uvloop", "GATEWAY_HTTP_FAST_PATH": "false"},
    "logged-loads": {"GATEWAY_STORAGE_ROCKSDB_UNLOGGED_LOADS": "false"},  # the store without atomic_flush
}
"""Server setups by name: the GATEWAY_* settings each one runs with (the bare app reads the same)."""

BARE_ANSWER = b'[{"id":1,"dog_name":"dog-1","owner_name":"Kyle","age":5}]'


async def bare_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The bare ASGI app: reads the request body, answers a fixed JSON."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BARE_ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BARE_ANSWER})


def serve_bare(port: int) -> None:
    """Run the bare app on uvicorn with the options ``gateway serve`` takes from the configuration."""
    import uvicorn

    from gateway.config import load_config
    from gateway.http.server import uvicorn_options

    with tempfile.TemporaryDirectory(prefix="bench-bare-") as root:
        options = uvicorn_options(load_config(root=Path(root)))
        uvicorn.run(bare_app, host="127.0.0.1", port=port, log_level="warning", **options)


@dataclass
class BareProcess:
    process: subprocess.Popen[bytes]
    url: str


def start_bare(env: dict[str, str]) -> BareProcess:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | env
    process = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(port)], env=environ)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/", timeout=1):
                return BareProcess(process, url)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the bare ASGI app did not answer")


def load_table(server: ServerProcess, records: int) -> None:
    """Create ``bench.dog`` and insert ``records`` records in requests of 1,000."""
    assert (
        server.op({"operation": "create_table", "database": "bench", "table": "dog", "primary_key": "id"})[0]
        == 200
    )
    rng = random.Random(1)
    for start in range(0, records, 1000):
        batch = [
            {
                "id": i,
                "dog_name": f"dog-{i}",
                "owner_name": rng.choice(["Kyle", "Zach", "Anna", "Maria"]),
                "age": rng.randint(1, 18),
                "weight_lbs": round(rng.uniform(2, 90), 1),
            }
            for i in range(start, min(start + 1000, records))
        ]
        status, answer = server.op(
            {"operation": "insert", "database": "bench", "table": "dog", "records": batch}
        )
        assert status == 200 and len(answer["inserted_hashes"]) == len(batch), answer


POOL = 4096
"""Request bodies each client thread makes before the timed part (random ids, posted in turn)."""


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    """The server process's CPU time (user and system, every thread) per request, in microseconds."""


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    url: str,
    pid: int,
    bodies: Callable[[random.Random], bytes],
    headers: dict[str, str],
    clients: int,
    seconds: float,
) -> Figures:
    """``clients`` threads, one keep-alive connection each, posting for ``seconds``; every answer must be 200.

    Each thread makes its pool of :data:`POOL` request bodies before the timed part and posts them in turn:
    the client's own work per request is then the same for every workload (the client is not measured)."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        rng = random.Random(index)
        pool = [bodies(rng) for _ in range(POOL)]
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        mine = latencies[index]
        barrier.wait()
        deadline = stop_at[0]
        clock = time.perf_counter
        try:
            for sent in itertools.count():
                body = pool[sent % POOL]
                started = clock()
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                ended = clock()
                if response.status != 200:
                    errors.append(f"{response.status}: {data[:200]!r}")
                    return
                mine.append(ended - started)
                if ended >= deadline:
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    if errors:
        raise RuntimeError(errors[0])
    every = sorted(x for lane in latencies for x in lane)
    return Figures(
        len(every) / elapsed,
        every[len(every) // 2] * 1000,
        every[int(len(every) * 0.99)] * 1000,
        cpu / len(every) * 1e6,
    )


def search_bodies(records: int, ids: int) -> Callable[[random.Random], bytes]:
    def body(rng: random.Random) -> bytes:
        chosen = [rng.randrange(records) for _ in range(ids)]
        request = {
            "operation": "search_by_id",
            "database": "bench",
            "table": "dog",
            "ids": chosen,
            "get_attributes": ["*"],
        }
        return json.dumps(request).encode()

    return body


CHECKOUT = Path(__file__).resolve().parents[1]


def setup_code(setup: str) -> Path:
    """The checkout whose gateway a setup runs: DIR for ``NAME@DIR``, else this one. The server runs in
    that directory: ``python -m gateway`` imports the package of its working directory first."""
    code = setup.partition("@")[2]
    return Path(code).resolve() if code else CHECKOUT


def setup_env(setup: str) -> dict[str, str]:
    """The environment of a setup's gateway: its settings, and for ``NAME@DIR`` that checkout's code."""
    name, _, code = setup.partition("@")
    if not code:
        return SETUPS[name]
    path = [str(Path(code).resolve()), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**SETUPS[name], "PYTHONPATH": os.pathsep.join(path)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", default="1,8", help="client thread counts, comma-separated")
    parser.add_argument("--setups", default="before,after", help=f"comma-separated, of: {', '.join(SETUPS)}")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    setups = args.setups.split(",")
    unknown = [s for s in setups if s.partition("@")[0] not in SETUPS]
    if unknown:
        parser.error(f"unknown setup(s) {unknown}; known: {', '.join(SETUPS)}")
    client_counts = [int(c) for c in args.clients.split(",")]
    auth = "Basic " + base64.b64encode(b"admin:admin-password").decode()
    headers = {"Content-Type": "application/json", "Authorization": auth}
    workloads: dict[str, Callable[[random.Random], bytes]] = {
        "bare ASGI app": lambda rng: b'{"operation":"search_by_id"}',
        "search_by_id 1 id": search_bodies(args.records, 1),
        "search_by_id 10 ids": search_bodies(args.records, 10),
    }
    results: dict[tuple[str, str, int], list[Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-point-") as tmp:
        gateways: dict[str, ServerProcess] = {}
        bares: dict[str, BareProcess] = {}
        try:
            for index, setup in enumerate(setups):
                root = Path(tmp) / str(index) / "root"
                gateways[setup] = start_server(root, extra_env=setup_env(setup), cwd=setup_code(setup))
                load_table(gateways[setup], args.records)
                bares[setup] = start_bare(SETUPS[setup.partition("@")[0]])
            print(
                f"table: {args.records:,} records loaded; {args.runs} runs of {args.seconds:g} s each",
                flush=True,
            )
            for run in range(args.runs):
                for clients in client_counts:
                    for setup in setups:
                        for workload, bodies in workloads.items():
                            if workload == "bare ASGI app":
                                url, pid = bares[setup].url, bares[setup].process.pid
                            else:
                                url, pid = gateways[setup].url, gateways[setup].process.pid
                            figures = drive(url, pid, bodies, headers, clients, args.seconds)
                            results.setdefault((setup, workload, clients), []).append(figures)
                print(f"run {run + 1} done", flush=True)
        finally:
            for server in gateways.values():
                server.stop()
            for bare in bares.values():
                stop_process(bare.process, signal.SIGTERM, 10)
    print(
        f"\n{'setup':<36}{'workload':<22}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'of bare':>9}{'cpu µs':>8}"
    )
    for clients in client_counts:
        for setup in setups:
            bare_rps = statistics.median(f.rps for f in results[(setup, "bare ASGI app", clients)])
            for workload in workloads:
                runs = results[(setup, workload, clients)]
                rps = statistics.median(f.rps for f in runs)
                p50 = statistics.median(f.p50_ms for f in runs)
                p99 = statistics.median(f.p99_ms for f in runs)
                cpu = statistics.median(f.cpu_us for f in runs)
                print(
                    f"{setup:<36}{workload:<22}{clients:>8}{rps:>10,.0f}{p50:>9.3f}{p99:>9.3f}"
                    f"{rps / bare_rps:>9.2f}{cpu:>8.0f}"
                )
    first = setups[0]
    for setup in setups[1:]:
        print()
        for clients in client_counts:
            for workload in workloads:
                base = statistics.median(f.rps for f in results[(first, workload, clients)])
                now = statistics.median(f.rps for f in results[(setup, workload, clients)])
                print(f"{setup} / {first} {workload:<22} {clients} client(s): {now / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
