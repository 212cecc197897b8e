"""read_log on a shared store (PostgreSQL): every process's entries from ``system.hdb_log``, with
host and pid, filtered and ordered as HarperDB's read_log; the table bounded by count and age.
(A worker's line read on a gateway, with real processes: tests/batch/test_cluster.py.)"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from gateway.audit import time_ordered_id
from gateway.cluster import LOG_TABLE
from tests.conftest import ADMIN_AUTH, make_client
from tests.support.postgres import store_overrides

log = logging.getLogger("gateway.tests")


def read_log(client: TestClient, **body: Any) -> list[dict[str, Any]]:
    answer = client.post("/", json={"operation": "read_log", **body}, headers=ADMIN_AUTH)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def days_ago(days: float) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def other_process_entry(stamp: str, message: str, level: str = "info") -> dict[str, Any]:
    """An entry as another process (elsewhere:4242) wrote it."""
    return {
        "id": time_ordered_id(),
        "timestamp": stamp,
        "thread": "MainThread",
        "level": level,
        "tags": ["gateway.imports"],
        "message": message,
        "host": "elsewhere",
        "pid": 4242,
    }


def test_read_log_answers_every_process_in_order_with_filters(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with make_client(root, **store_overrides("postgres", root)) as client:
        records = client.app.state.gateway.storage.records  # type: ignore[attr-defined]
        # within logging.keep_days (7): pruning by age (at start, then every minute) keeps them
        far, warned, between, before_now = (days_ago(d) for d in (3, 2, 2.5, 1))
        records.write(
            "system",
            LOG_TABLE,
            [
                other_process_entry(far, "far past"),
                other_process_entry(warned, "elsewhere warned", "warning"),
            ],
            "insert",
        )
        log.warning("here and now")  # read at once: read_log writes this process's buffer first
        entries = read_log(client, limit=1000)
        messages = [e["message"] for e in entries]
        assert messages[:2] == ["far past", "elsewhere warned"] and "here and now" in messages
        here = next(e for e in entries if e["message"] == "here and now")
        assert (here["level"], here["tags"]) == (
            "warning",
            ["gateway.tests", f"host:{socket.gethostname()}", f"pid:{os.getpid()}"],
        )
        assert set(here) == {"timestamp", "thread", "level", "tags", "message"}
        stamps = [e["timestamp"] for e in entries]
        assert stamps == sorted(stamps)

        newest = read_log(client, order="desc", limit=3)
        assert [e["timestamp"] for e in newest] == sorted(stamps, reverse=True)[:3]
        assert [e["message"] for e in read_log(client, level="warn", until=before_now)] == [
            "elsewhere warned"
        ]
        assert [e["message"] for e in read_log(client, start=1, limit=1)] == ["elsewhere warned"]
        assert [e["message"] for e in read_log(client, order="desc", start=1, until=before_now)] == [
            "far past"
        ]
        assert read_log(client, **{"from": between, "until": before_now}) == [
            {
                "timestamp": warned,
                "thread": "MainThread",
                "level": "warning",
                "tags": ["gateway.imports", "host:elsewhere", "pid:4242"],
                "message": "elsewhere warned",
            }
        ]


def test_the_shared_log_is_bounded_by_age_and_count(tmp_path: Path) -> None:
    root = tmp_path / "root"
    overrides = {**store_overrides("postgres", root), "logging.keep_entries": 5, "logging.keep_days": 1}
    with make_client(root, **overrides) as client:
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        shared = gateway.cluster.shared_log
        records = gateway.storage.records
        old = [other_process_entry(f"2001-01-0{day}T00:00:00.000Z", f"old {day}") for day in (1, 2)]
        records.write("system", LOG_TABLE, old, "insert")
        for n in range(8):
            log.info("recent %d", n)
        shared.flush()
        shared.prune(time.time())  # (the flusher's own pruning may have come first)
        assert gateway.storage.catalog.count("system", LOG_TABLE) == 5
        kept = [e["message"] for e in read_log(client, limit=100)]
        assert len(kept) == 5 and not any(m.startswith("old ") for m in kept)
        assert kept[-1] == "recent 7"


def test_the_embedded_store_reads_the_local_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with make_client(root, **{"storage.backend": "rocksdb"}) as client:
        assert client.app.state.gateway.cluster.shared_log is None  # type: ignore[attr-defined]
        log.warning("only in the file")
        entries = read_log(client, order="desc", limit=5)
        assert entries[0]["message"] == "only in the file" and "host" not in entries[0]
