"""What counting a request for the metrics costs: ``search_by_id`` with metrics on and off.

Two real ``gateway serve`` processes on temp roots, one with ``metrics.enabled: true`` (the
default) and one with ``GATEWAY_METRICS_ENABLED=false``, each with the same small table. Rounds
of one-id ``search_by_id`` requests over one keep-alive connection alternate between them (so
both see the same machine load); the fastest and the median round of each give µs per request and
their ratios (on a machine shared with other work the fastest rounds are the steadier figure).
Then the recorder's own cost, in-process: ns per ``Recorder.request`` call.

    python bench/metrics.py [--rounds 12] [--lookups 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ops import Client, make_records  # noqa: E402
from gateway.metrics.recorder import Recorder  # noqa: E402
from tests.support.server import start_server  # noqa: E402


def lookup_round(client: Client, lookups: int, ids: int) -> float:
    """µs per request of ``lookups`` one-id searches."""
    started = time.perf_counter()
    for i in range(lookups):
        body = {"operation": "search_by_id", "database": "bench", "table": "dog", "ids": [i % ids]}
        client.op({**body, "get_attributes": ["*"]})
    return (time.perf_counter() - started) * 1e6 / lookups


def recorder_ns(calls: int) -> float:
    """ns per ``Recorder.request`` (one lock, one bisect, a few additions)."""
    recorder = Recorder()
    started = time.perf_counter()
    for i in range(calls):
        recorder.request("search_by_id", 0.0003 + (i % 7) * 0.0001, False)
    return (time.perf_counter() - started) * 1e9 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--lookups", type=int, default=500)
    args = parser.parse_args()
    records = make_records(1000)
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            "on": start_server(Path(tmp) / "on"),
            "off": start_server(Path(tmp) / "off", {"GATEWAY_METRICS_ENABLED": "false"}),
        }
        try:
            clients = {name: Client(server) for name, server in servers.items()}
            for client in clients.values():
                client.op(
                    {"operation": "create_table", "database": "bench", "table": "dog", "primary_key": "id"}
                )
                client.op({"operation": "insert", "database": "bench", "table": "dog", "records": records})
                lookup_round(client, 100, len(records))  # warm-up
            rounds: dict[str, list[float]] = {"on": [], "off": []}
            for index in range(args.rounds):
                order = ("on", "off") if index % 2 == 0 else ("off", "on")
                for name in order:
                    rounds[name].append(lookup_round(clients[name], args.lookups, len(records)))
        finally:
            for server in servers.values():
                server.stop()
    print(f"search_by_id over HTTP, {args.rounds} rounds of {args.lookups} requests each:")
    for label, pick in (("fastest", min), ("median", statistics.median)):
        on, off = pick(rounds["on"]), pick(rounds["off"])
        print(f"  {label:7} round: metrics on {on:7.1f} µs/request, off {off:7.1f} µs/request", end="")
        print(f", ratio on/off {on / off:.3f} ({on - off:+.1f} µs)")
    print(f"Recorder.request in-process: {recorder_ns(200_000):.0f} ns/call")


if __name__ == "__main__":
    main()
