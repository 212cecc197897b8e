"""The scale-out setup on one machine (issue 14, item 7): two web-only ``gateway serve --no-worker``
processes and two ``gateway worker`` processes on one PostgreSQL schema and one S3 bucket (moto
on loopback), each process with a root directory of its own, as on separate machines.

1. 20 batches (control file and data file each) are uploaded alternately through both
   gateways with one API key (made on the first, accepted by the second); the files are in
   the bucket and on no process's disk;
2. one large batch is held mid-file in whichever worker runs it (each worker reaches S3
   through a :class:`~tests.support.held_object.HeldObjectProxy` of its own, which holds
   the records pass of that file and so tells which worker holds it); the 19 others run
   meanwhile on both workers;
3. the worker holding the large batch is killed with SIGKILL: that batch ends ``error``
   with the restart rule's ``EXCEPTION:`` line, keeping the records committed before;
4. each batch ran exactly once (one ``:start`` audit entry each), and the records equal
   those the same batches make on the embedded backend (the app on RocksDB and files on
   disk, in this process), ignoring ``id`` (a generated UUID) and the record times. The
   killed batch's records are compared too: those it committed are the first ones the
   embedded run of the same file makes.
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import minimal_control, person_model, start_api
from tests.batch.remote import RemoteBatchApi, all_records
from tests.batch.test_workers import STOPPED, batch_starts, held_data, people, wait_running
from tests.conftest import make_client
from tests.support.batch_log import run_lines
from tests.support.held_object import HeldObjectProxy
from tests.support.postgres import store_env, store_overrides
from tests.support.s3 import MotoS3, s3_server, stored_files
from tests.support.server import ServerProcess, WorkerProcess, start_server, start_worker

__all__ = ["s3_server"]  # the fixture the test uses

pytestmark = pytest.mark.slow

BATCHES = 20
VOLATILE = ("id", "__createdtime__", "__updatedtime__")


def small_rows(n: int) -> list[dict[str, str]]:
    """Batch ``n``'s records: a few dozen people, one with an email the model refuses."""
    rows = people(20 + n, f"b{n}-")
    rows[n % len(rows)]["email"] = f"not an email {n}"
    return rows


def comparable(records: list[dict[str, Any]]) -> list[str]:
    """Records without their generated key and times, as sorted JSON texts."""
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in VOLATILE}, sort_keys=True) for r in records
    )


def log_body(log: str) -> list[str]:
    """A batch log's lines without the START and END lines and the summary after them (they hold times)."""
    return [line for line in run_lines(log) if not line.startswith(("START: ", "END: "))]


def embedded_runs(root: Path, files: list[bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The same batches on the embedded backend (RocksDB, files on disk), one after another:
    each batch's final info, and every record made."""
    overrides = {**store_overrides("rocksdb", root), "storage.backend": "rocksdb", "blobs.backend": "fs"}
    with make_client(root, **overrides) as client:
        api = start_api(client)
        control = api.upload_control(minimal_control())
        infos = []
        for data in files:
            batch = api.create_batch(control)
            api.add_file(batch, "people", data)
            api.schedule(batch)
            infos.append(api.wait(batch, timeout=120))
        storage = client.app.state.gateway.storage  # type: ignore[attr-defined]
        found = list(storage.records.scan("haplo_person", "profile"))
    return infos, found


def test_two_gateways_and_two_workers_on_postgres_and_s3(tmp_path: Path, s3_server: MotoS3) -> None:
    cluster = {
        **store_env("postgres+s3", tmp_path / "cluster"),
        "GATEWAY_JOBS_HEARTBEAT": "0.5",
        "GATEWAY_JOBS_STALLED": "5",
    }
    roots = [tmp_path / name for name in ("web-1", "web-2", "worker-1", "worker-2")]
    big, _ = held_data("big", total=30_000)
    digest = hashlib.sha256(big).hexdigest()
    moto_port = int(s3_server.url.rsplit(":", 1)[1])
    proxies = [HeldObjectProxy("127.0.0.1", moto_port, digest, nth=2, after=1 << 20) for _ in range(2)]
    servers: list[ServerProcess] = []
    workers: list[WorkerProcess] = []
    try:
        servers = [start_server(root, cluster, args=["--no-worker"]) for root in roots[:2]]
        first = RemoteBatchApi(servers[0])
        # The key made through the first gateway is the cluster's (its secret is in the database),
        # and so is the model registered through the second one.
        apis = [first, RemoteBatchApi(servers[1], key=first.key)]
        apis[1].require({"operation": "add_import_model", "model": person_model()})
        assert not any((root / "keys").exists() for root in roots)

        # 1. 20 batches uploaded alternately through both gateways; the first is the large one.
        files = [big] + [json.dumps(small_rows(n)).encode() for n in range(1, BATCHES)]
        batches = [
            apis[n % 2].batch_with_file(minimal_control(), "people", data) for n, data in enumerate(files)
        ]
        assert len(set(batches)) == BATCHES
        stored = stored_files(tmp_path / "cluster")
        assert digest in stored and len(stored) == BATCHES + 1  # the data files and one control file
        assert not [path for root in roots for path in root.glob("blobs/??/*")]  # no process's disk

        # 2. The large batch is held mid-file in one worker; the others run on both.
        workers = [
            start_worker(root, {**cluster, "GATEWAY_BLOBS_S3_ENDPOINT_URL": proxy.url}, concurrency=2)
            for root, proxy in zip(roots[2:], proxies, strict=True)
        ]
        assert apis[0].ok("schedule", {"batch": batches[0]}) == "SCHEDULED"
        deadline = time.monotonic() + 120
        while not any(proxy.held.is_set() for proxy in proxies):
            assert time.monotonic() < deadline, "no worker began the records pass of the large batch"
            time.sleep(0.05)
        wait_running(apis[0], batches[0])
        [holder] = [n for n, proxy in enumerate(proxies) if proxy.held.is_set()]
        for n, batch in enumerate(batches[1:], start=1):
            assert apis[n % 2].ok("schedule", {"batch": batch}) == "SCHEDULED"
        cluster_infos = [apis[n % 2].wait(batch, timeout=120) for n, batch in enumerate(batches) if n]
        assert [(i["state"], i["errors"]) for i in cluster_infos] == [("complete", 1)] * (BATCHES - 1)

        # 3. The worker holding it is killed; the survivor ends its batch in error.
        seen = apis[1].batch_info(batches[0])["progress"]["records_done"]
        assert apis[1].batch_info(batches[0])["state"] == "running"
        assert workers[holder].stop(signal.SIGKILL) == -signal.SIGKILL
        killed = apis[1].wait(batches[0], timeout=120)
        assert killed["state"] == "error", killed
        lines = run_lines(killed["log"])
        assert lines[0].startswith("START: ") and lines[-2] == STOPPED and lines[-1].startswith("END: ")
        assert 1000 <= seen <= killed["progress"]["records_done"] < 30_000

        # 4. Each ran once; the records are the embedded backend's.
        assert batch_starts(servers[0]) == Counter(batches)
        records = all_records(servers[1], "haplo_person", "profile")
        held_records = [r for r in records if str(r.get("email", [""])[0]).startswith("big")]
        assert killed["progress"]["records_done"] <= len(held_records) < 30_000
    finally:
        for process in workers:
            process.stop(signal.SIGKILL)
        for server in servers:
            server.stop()
        for proxy in proxies:
            proxy.cut()

    reference_infos, reference = embedded_runs(tmp_path / "embedded", files)
    for info, expected in zip(cluster_infos, reference_infos[1:], strict=True):
        assert (info["state"], info["errors"], info["progress"]) == (
            expected["state"],
            expected["errors"],
            expected["progress"],
        )
        assert log_body(info["log"]) == log_body(expected["log"])
    small = [r for r in records if r not in held_records]
    reference_small = [r for r in reference if not str(r.get("email", [""])[0]).startswith("big")]
    assert comparable(small) == comparable(reference_small)
    # The killed batch committed a prefix of the file: the first records the embedded run made.
    assert reference_infos[0]["state"] == "complete"
    reference_big = [r for r in reference if str(r.get("email", [""])[0]).startswith("big")]
    order = {f"big{i}@example.com": i for i in range(30_000)}
    first_ones = sorted(reference_big, key=lambda r: order[r["email"][0]])[: len(held_records)]
    assert comparable(held_records) == comparable(first_ones)
