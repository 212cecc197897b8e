"""Metrics: list_metrics, describe_metric, get_analytics over the stored samples, retention,
batch runs and bulk jobs counted, and ``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.metrics import catalog
from gateway.process import Gateway
from tests.batch.conftest import minimal_control, start_api
from tests.bulk.helpers import run_job
from tests.conftest import ADMIN_AUTH, Ops, make_client
from tests.operations.conftest import make_user
from tests.support.postgres import store_overrides


def gateway_of(client: TestClient) -> Gateway:
    gateway: Gateway = client.app.state.gateway  # type: ignore[attr-defined]
    return gateway


def search_dogs(op: Ops, times: int, table: str = "dog", expect: int = 200) -> None:
    """``times`` search_by_id requests of dog 1 in ``dev.<table>``."""
    body = {
        "operation": "search_by_id",
        "database": "dev",
        "table": table,
        "ids": [1],
        "get_attributes": ["*"],
    }
    for _ in range(times):
        op(body, expect)


def analytics(op: Ops, metric: str, **more: Any) -> list[dict[str, Any]]:
    return list(op({"operation": "get_analytics", "metric": metric, **more}))


def test_metrics_are_listed_and_described(op: Ops) -> None:
    assert op({"operation": "list_metrics"}) == list(catalog.BUILTIN)
    assert op({"operation": "list_metrics", "metric_types": ["custom", "builtin"]}) == list(catalog.BUILTIN)
    assert op({"operation": "list_metrics", "metric_types": ["custom"]}) == []
    described = op({"operation": "describe_metric", "metric": "resource-usage"})
    names = [a["name"] for a in described["attributes"]]
    assert names[:5] == ["id", "metric", "node", "time", "period"]
    assert {"userCPUTime", "systemCPUTime", "rss", "diskFree"} <= set(names)
    assert all(a["type"] in ("string", "number") for a in described["attributes"])


def test_requests_per_operation_are_sampled_with_latency(dogs: Ops, client: TestClient) -> None:
    gateway = gateway_of(client)
    gateway.metrics.sampler.sample()  # the period before: the fixture's setup requests
    search_dogs(dogs, 7)
    search_dogs(dogs, 1, table="nope", expect=404)
    dogs({"operation": "no_such_operation"}, 400)
    assert gateway.metrics.sampler.sample() > 0
    entries = analytics(dogs, "operations")
    last = max(e["time"] for e in entries)
    latest = {e["path"]: e for e in entries if e["time"] == last}
    search = latest["search_by_id"]
    assert (search["count"], search["errors"]) == (8, 1)
    assert 0 < search["p50"] <= search["p90"] <= search["p95"] <= search["p99"]
    assert search["mean"] > 0 and search["period"] >= 0 and search["node"]
    assert latest["(unknown)"]["count"] == latest["(unknown)"]["errors"] == 1
    assert "insert" not in latest  # only the operations answered in the period
    usage = analytics(dogs, "resource-usage")[-1]
    assert usage["rss"] > 1_000_000 and usage["diskTotal"] >= usage["diskFree"] > 0
    assert usage["userCPUTime"] >= 0 and usage["cpuUtilization"] >= 0


def test_get_analytics_filters(dogs: Ops, client: TestClient) -> None:
    sampler = gateway_of(client).metrics.sampler
    search_dogs(dogs, 2)
    sampler.sample()
    time.sleep(1.1)
    middle = time.time()
    time.sleep(0.1)
    search_dogs(dogs, 3)
    sampler.sample()
    everything = analytics(dogs, "operations")
    assert [e["time"] for e in everything] == sorted(e["time"] for e in everything)
    later = analytics(dogs, "operations", start_time=middle)
    assert [e["count"] for e in later if e["path"] == "search_by_id"] == [3]
    earlier = analytics(dogs, "operations", start_time=0, end_time=middle)
    assert [e["count"] for e in earlier if e["path"] == "search_by_id"] == [2]
    assert len(earlier) + len(later) == len(everything)
    assert analytics(dogs, "operations", start_time=middle, end_time=middle - 1) == []
    chosen = analytics(
        dogs,
        "operations",
        get_attributes=["path", "count"],
        conditions=[{"attribute": "path", "operator": "equals", "value": "search_by_id"}],
    )
    assert chosen == [{"path": "search_by_id", "count": 2}, {"path": "search_by_id", "count": 3}]
    big = analytics(
        dogs, "operations", conditions=[{"attribute": "count", "operator": "greater_than", "value": 2}]
    )
    assert {(e["path"], e["count"]) for e in big} >= {("search_by_id", 3)}
    assert all(e["count"] > 2 for e in big)
    nested = analytics(
        dogs,
        "operations",
        operator="or",
        conditions=[
            {"search_attribute": "count", "search_type": "greater_than", "search_value": 2},
            {
                "operator": "and",
                "conditions": [{"attribute": "path", "comparator": "equals", "value": "nope"}],
            },
        ],
    )
    assert nested == big


def test_get_analytics_refusals(op: Ops) -> None:
    known = ", ".join(catalog.BUILTIN)
    assert op({"operation": "get_analytics", "metric": "cpu"}, 404) == {
        "error": f"metric 'cpu' not found (the builtin metrics are {known})"
    }
    assert op({"operation": "describe_metric", "metric": "cpu"}, 404)["error"].startswith("metric 'cpu'")
    refused = {
        "'metric' is required": [{"operation": "get_analytics"}, {"operation": "describe_metric"}],
        "'metric' must be a string": [{"operation": "get_analytics", "metric": 5}],
        "'start_time' must be a Unix time in seconds (a number from 0 to 9007199254740)": [
            {"operation": "get_analytics", "metric": "jobs", "start_time": "yesterday"},
            {"operation": "get_analytics", "metric": "jobs", "start_time": -1},
            {"operation": "get_analytics", "metric": "jobs", "start_time": True},
        ],
        "'end_time' must be a Unix time in seconds (a number from 0 to 9007199254740)": [
            {"operation": "get_analytics", "metric": "jobs", "end_time": 1.7e308},
            {"operation": "get_analytics", "metric": "jobs", "end_time": 9007199254741},
        ],
        "'get_attributes' must be a non-empty array of attribute names": [
            {"operation": "get_analytics", "metric": "jobs", "get_attributes": []}
        ],
        "'conditions' must be an array": [{"operation": "get_analytics", "metric": "jobs", "conditions": {}}],
        "'metric_types' must be an array of 'builtin' and 'custom'": [
            {"operation": "list_metrics", "metric_types": "builtin"},
            {"operation": "list_metrics", "metric_types": ["everything"]},
        ],
    }
    for message, bodies in refused.items():
        for body in bodies:
            assert op(body, 400) == {"error": message}, body
    reader = make_user(op, "watcher", {"dev": {"tables": {}}})
    for name in ("list_metrics", "describe_metric", "get_analytics"):
        assert "restricted to 'super_user'" in str(reader({"operation": name, "metric": "jobs"}, 403))


def test_old_samples_are_pruned(op: Ops, client: TestClient) -> None:
    metrics = gateway_of(client).metrics
    now_ms = time.time() * 1000.0
    day = 86_400_000.0
    metrics.store.add(
        [
            {"metric": "jobs", "node": "old", "time": now_ms - 8 * day, "period": 10_000, "started": 1},
            {"metric": "jobs", "node": "recent", "time": now_ms - 6 * day, "period": 10_000, "started": 2},
        ]
    )
    assert {e["node"] for e in analytics(op, "jobs")} == {"old", "recent"}
    metrics.sampler.sample()  # keep_days: 7 by default
    assert [e["node"] for e in analytics(op, "jobs")][:1] == ["recent"]
    assert "old" not in {e["node"] for e in analytics(op, "jobs")}


def test_batches_jobs_and_imported_records_are_counted(op: Ops, client: TestClient) -> None:
    sampler = gateway_of(client).metrics.sampler
    sampler.sample()
    api = start_api(client)
    people = [{"first": "F", "last": f"L{i}", "email": f"p{i}@example.com"} for i in range(5)]
    batch = api.create_batch(api.upload_control(minimal_control()))
    api.add_file(batch, "people", json.dumps(people).encode())
    api.schedule(batch)
    assert api.wait(batch)["state"] == "complete"
    control = minimal_control()
    control["files"] = {"good": {"read": "json"}}
    failing = api.create_batch(api.upload_control(control))
    gateway_of(client).imports.batches.check_file_names = False
    api.add_file(failing, "stray", b"[]")
    api.schedule(failing)
    assert api.wait(failing)["state"] == "error"
    op({"operation": "create_database", "database": "dev"})
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    job = run_job(
        op, {"operation": "csv_data_load", "database": "dev", "table": "dog", "data": "id,n\n1,a\n2,b\n3,c\n"}
    )
    assert job["status"] == "COMPLETE"
    deadline = time.monotonic() + 10  # the observer hears of a run once its function has returned
    while time.monotonic() < deadline:
        work = gateway_of(client).metrics.recorder.snapshot().work
        if work["batch"].failed + work["batch"].finished + work["job"].finished >= 3:
            break
        time.sleep(0.02)
    sampler.sample()
    batches = analytics(op, "batches")[-1]
    assert (batches["started"], batches["finished"], batches["failed"], batches["running"]) == (2, 1, 1, 0)
    jobs = analytics(op, "jobs")[-1]
    assert (jobs["started"], jobs["finished"], jobs["failed"]) == (1, 1, 0)
    records = analytics(op, "records-imported")[-1]
    assert (records["count"], records["batches"], records["jobs"]) == (8, 5, 3)
    assert records["perSecond"] == round(8 / (records["period"] / 1000.0), 3) or records["perSecond"] > 0


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, Any] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name + json.dumps(sample.labels, sort_keys=True)] = sample.value
    return samples


def test_prometheus_exposition_counts_requests(dogs: Ops, client: TestClient) -> None:
    before = scrape(client)
    key = 'gateway_operation_requests_total{"operation": "search_by_id"}'
    search_dogs(dogs, 4)
    after = scrape(client)
    assert after[key] - before.get(key, 0) == 4
    buckets = 'gateway_operation_duration_seconds_count{"operation": "search_by_id"}'
    assert after[buckets] == after[key]
    assert (
        after['gateway_operation_duration_seconds_bucket{"le": "+Inf", "operation": "search_by_id"}']
        == after[key]
    )
    assert after['gateway_work_started_total{"kind": "batch"}'] == 0
    assert after["process_resident_memory_bytes{}"] > 0
    assert after["gateway_disk_free_bytes{}"] > 0


def test_prometheus_scrape_can_require_a_super_user(root: Path, backend: str) -> None:
    overrides = {**store_overrides(backend, root), "metrics.prometheus_auth": True}
    with make_client(root, **overrides) as client:
        assert client.get("/metrics").status_code == 401
        op = Ops(client, ADMIN_AUTH)
        reader = make_user(op, "scraper", {"dev": {"tables": {}}})
        assert client.get("/metrics", headers=reader.headers).status_code == 403
        assert scrape(client, ADMIN_AUTH)['gateway_operation_requests_total{"operation": "add_user"}'] == 1


def test_the_scheduler_samples_every_period(root: Path, backend: str) -> None:
    overrides = {**store_overrides(backend, root), "metrics.sample_seconds": 0.2}
    with make_client(root, **overrides) as client:
        op = Ops(client, ADMIN_AUTH)
        deadline = time.monotonic() + 10
        entries: list[dict[str, Any]] = []
        while len(entries) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            entries = analytics(op, "resource-usage")
        assert len(entries) >= 2
        assert {e["metric"] for e in entries} == {"resource-usage"}
