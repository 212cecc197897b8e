"""``GET /openapi.yaml``: a valid OpenAPI 3.1 description as strict as the server, and a schemathesis
run of every operation against a real server (how: ``tests/openapi/harness.py``)."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from gateway.http.openapi import fields_source, operation_schemas
from gateway.http.openapi_operations import DOCS
from gateway.operations import OPERATIONS
from tests.openapi.harness import (
    BATCH,
    PLANS,
    Fixtures,
    Plan,
    create_fixtures,
    only_breaks_number_bounds,
    operation_document,
    operations_of,
)
from tests.support.server import ServerProcess, start_server


def load(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    return yaml.safe_load(response.text)


def test_document_is_valid_and_covers_every_route(client):
    document = load(client)
    validate(document)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    for endpoint in ("control", "batch", "file", "schedule"):
        post = paths[BATCH + endpoint]["post"]
        assert post["security"] == [{"haploKey": []}] and "200" in post["responses"]
    status = paths[BATCH + "status"]["get"]
    assert {p["name"] for p in status["parameters"]} == {"batch", "log"}
    assert set(paths["/health"]) == {"get"} and set(paths["/ready"]) == {"get"}
    assert set(paths["/"]) == {"get", "post"}
    assert not any(p.startswith("/admin") for p in paths)
    body = paths["/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "operation"
    assert set(body["discriminator"]["mapping"]) == set(OPERATIONS)
    assert len(body["oneOf"]) == len(OPERATIONS)
    assert "&id" not in client.get("/openapi.yaml").text  # no YAML anchors


def test_operation_schemas_state_fields_statuses_and_answers(client):
    schemas = load(client)["components"]["schemas"]
    insert = schemas["op_insert"]
    assert insert["properties"]["operation"] == {"type": "string", "const": "insert"}
    assert insert["required"] == ["operation", "table", "records"]
    assert insert["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    assert insert["x-statuses"] == [200, 400, 401, 403, 429, 507] and insert["x-answer"] == "answer_insert"
    name = schemas["Name"]
    assert (name["minLength"], name["maxLength"], name["pattern"]) == (
        1,
        250,
        "^[^/`\\u0000-\\u001f\\u007f-\\u009f]*$",
    )
    assert schemas["Number"]["maximum"] == 2**53 and schemas["Number"]["minimum"] == -(2**53)
    # the deprecated alias counts only when the current name is absent
    assert schemas["op_delete"]["properties"]["hash_values"]["deprecated"] is True
    assert {"required": ["ids"]} in schemas["op_delete"]["allOf"][1]["anyOf"]
    assert schemas["op_csv_data_load"]["properties"]["action"]["enum"] == ["insert", "update", "upsert", None]
    assert "between" in schemas["Condition"]["properties"]["search_type"]["enum"]
    assert schemas["op_set_configuration"]["additionalProperties"] is False
    assert schemas["op_set_configuration"]["properties"]["http.port"]["type"] == "integer"
    assert schemas["op_read_log"]["properties"]["order"] == {"type": "string", "enum": ["asc", "desc"]}
    assert schemas["op_create_schema"]["description"].startswith("Alias of create_database.")
    assert schemas["op_get_backup"]["x-statuses"] == [200, 400, 401, 403, 404, 429, 507]
    assert schemas["answer_insert"]["required"] == ["message", "inserted_hashes", "skipped_hashes"]


def test_every_registered_operation_is_described():
    assert sorted(name for name in OPERATIONS if fields_source(name) is None) == []
    assert fields_source("create_schema") == "create_database" and fields_source("insert") == "insert"
    for name, doc in DOCS.items():
        assert set(doc.required) <= set(doc.properties), name
        if OPERATIONS[name].super_user or OPERATIONS[name].permission:
            assert 403 in doc.statuses, name


def test_an_operation_not_described_yet_still_gets_a_branch(monkeypatch):
    new = dataclasses.replace(OPERATIONS["describe_all"], name="zz_new", handler=lambda ctx, body: None)
    monkeypatch.setitem(OPERATIONS, "zz_new", new)
    assert fields_source("zz_new") is None
    assert (
        operation_schemas()["op_zz_new"]["description"] == "An operation of this gateway (not described yet)."
    )


def test_without_credentials_every_operation_but_the_token_ones_is_401(client):
    """The body is checked first (the operation decides whether credentials are needed), then the
    credentials, before the operation's name, role and fields."""
    refused = {}
    for name in sorted(OPERATIONS):
        response = client.post("/", json={"operation": name})
        refused[name] = (response.status_code, response.json()["error"])
    free = {
        "create_authentication_tokens": (401, "invalid credentials"),
        "refresh_operation_token": (401, "Must login"),
    }
    assert refused == {name: free.get(name, (401, "Must login")) for name in OPERATIONS}
    assert client.post("/", json={"operation": "frobnicate"}).status_code == 401
    assert client.post("/", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/", json={"database": "dev"}).status_code == 400
    wrong = {"Authorization": "Basic " + "d3Jvbmc6d3Jvbmc="}  # wrong:wrong
    assert client.post("/", json={"operation": "describe_all"}, headers=wrong).json() == {
        "error": "Login failed"
    }


def test_every_operation_has_a_plan():
    document_labels = {f"POST / {name}" for name in OPERATIONS}
    planned = {key if key.startswith(("GET ", "POST ")) else f"POST / {key}" for key in PLANS}
    assert document_labels <= planned
    not_fuzzed = sorted(key for key, plan in PLANS.items() if plan.positive == 0)
    assert not_fuzzed == ["csv_url_load", "export_to_s3", "import_from_s3", "restart", "restart_service"]


# -- the schemathesis run ---------------------------------------------------------------------------------

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
)
MIN_CALLS = 2500


SHARDS = 8
"""The run is cut into this many shards, each its own test on its own server, so that parallel test
processes (pytest-xdist) share it out; together they send every planned case."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # the audit log on: read_audit_log and delete_audit_logs_before with a table then answer 200
    running = start_server(tmp_path / "root", {"GATEWAY_LOGGING_AUDITLOG": "true"})
    try:
        yield running
    finally:
        running.stop()


def plan_key(path: str, which: str, label: str) -> str:
    return which if path == "/" and which != "get" else label


def became_another(label: str, mode: str, case: Any) -> bool:
    """Whether a negative ``POST /`` case names another registered operation than the one fuzzed.

    Schemathesis may break the ``operation`` constant into another operation's name; the body
    is then (often) a valid request for that operation, which the server rightly answers.
    """
    if mode != "negative" or case.path != "/" or not isinstance(case.body, dict):
        return False
    named = case.body.get("operation")
    return isinstance(named, str) and named in OPERATIONS and named != label.split()[-1]


class Run:
    """Sends each generated case, checks its answer and counts the calls made per (operation, mode)."""

    def __init__(self, fx: Fixtures) -> None:
        self.fx = fx
        self.calls: dict[str, int] = {}
        self.failures: list[str] = []
        # negative cases not expected to be refused (see only_breaks_number_bounds)
        self.float_bounds_only = 0
        self.answers: dict[str, dict[int, int]] = {}  # "<operation> <mode>" → {status: count}

    def checks(self, expect_refusal: bool, another_operation: bool = False) -> list[Any]:
        """The checks of one case; a negative case that became another operation's body is only
        checked for server errors (it is a valid request, answered as that operation)."""
        from schemathesis import checks

        if another_operation:
            return [checks.not_a_server_error]
        names = [c for c in CHECKS if expect_refusal or c != "negative_data_rejection"]
        return [getattr(checks, name) for name in names]

    def send(
        self, label: str, mode: str, plan: Plan, case: Any, lenient: Callable[[Any], bool] | None
    ) -> None:
        """Send one case (after the plan's prepare), check the answer, then the plan's cleanup."""
        name = f"{label} {mode}"
        self.calls[name] = self.calls.get(name, 0) + 1
        expect_refusal = plan.negative_rejection
        if mode == "negative" and lenient is not None and lenient(case.body):
            expect_refusal = False
            self.float_bounds_only += 1
        if mode == "positive" and plan.prepare is not None:
            plan.prepare(self.fx, case)
        auth = self.fx.auth_for(case.path)
        response = case.call(
            base_url=self.fx.server.url, headers={"Authorization": auth}, timeout=60, allow_redirects=False
        )
        answers = self.answers.setdefault(name, {})
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        shown = f"{name}: {case.body!r:.300} -> {response.status_code} {response.content[:300]!r}"
        if case.meta is not None and case.meta.generation.mode.value != mode:
            self.failures.append(f"{shown}\n  the case became {case.meta.generation.mode.value}")
        if mode == "positive" and response.status_code not in plan.ok:
            self.failures.append(f"{shown}\n  a valid request was not answered {sorted(plan.ok)}")
        try:
            case.validate_response(
                response, checks=self.checks(expect_refusal, became_another(label, mode, case))
            )
        except (AssertionError, BaseExceptionGroup) as failure:  # a FailureGroup of every failed check
            self.failures.append(f"{shown}\n  {failure_summary(failure)}")
        if plan.cleanup is not None:  # also after a negative case the server took (a number bound only)
            plan.cleanup(self.fx, case, response)

    def fuzz(self, label: str, mode: str, plan: Plan, document: dict[str, Any], examples: int) -> None:
        """``examples`` generated cases of the one operation in ``document``."""
        import schemathesis
        from hypothesis import HealthCheck, Phase, given, settings
        from schemathesis import GenerationMode

        operation = next(schemathesis.openapi.from_dict(document).get_all_operations()).ok()
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
        which = label.split()[-1]
        lenient = only_breaks_number_bounds(document, which) if label.startswith("POST / ") else None

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            try:
                self.send(label, mode, plan, case, lenient)
            except Exception as error:  # the run goes on: every failure is reported at the end
                self.failures.append(f"{label} {mode}: {case.body!r:.300}\n  {type(error).__name__}: {error}")

        try:
            run()
        except Exception as error:  # the document itself (schemathesis cannot generate from it)
            self.failures.append(f"{label} {mode}: {type(error).__name__}: {error}")


def planned_calls(document: dict[str, Any]) -> dict[str, int]:
    """``"<operation> <mode>"`` → the cases the run sends (``PLANS``), for every API operation."""
    plan: dict[str, int] = {}
    for label, path, which in operations_of(document):
        operation_plan = PLANS[plan_key(path, which, label)]
        plan[f"{label} negative"] = operation_plan.negative
        plan[f"{label} positive"] = operation_plan.positive
    return plan


def fuzz_operation(run: Run, document: dict[str, Any], label: str, path: str, which: str) -> None:
    """Negative cases from the served description of one operation, then positive ones from it
    narrowed to the fixtures."""
    operation_plan = PLANS[plan_key(path, which, label)]
    served = operation_document(document, path, which)
    narrowed = copy.deepcopy(served)
    if operation_plan.narrow is not None:
        operation_plan.narrow(narrowed, run.fx)
    for mode, examples, doc in (
        ("negative", operation_plan.negative, served),
        ("positive", operation_plan.positive, narrowed),
    ):
        run.calls[f"{label} {mode}"] = 0
        if examples:
            run.fuzz(label, mode, operation_plan, doc, examples)


def shards(document: dict[str, Any]) -> list[list[tuple[str, str, str]]]:
    """The API operations cut into :data:`SHARDS` shards of about as many planned cases each (the
    largest first, each to the shard with the fewest cases so far; every operation in exactly one)."""
    plan = planned_calls(document)
    cost = {op: plan[f"{op[0]} negative"] + plan[f"{op[0]} positive"] for op in operations_of(document)}
    out: list[list[tuple[str, str, str]]] = [[] for _ in range(SHARDS)]
    totals = [0] * SHARDS
    for op in sorted(cost, key=lambda op: (-cost[op], op)):
        lightest = totals.index(min(totals))
        out[lightest].append(op)
        totals[lightest] += cost[op]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(SHARDS))
def test_schemathesis_finds_no_server_errors_and_no_valid_request_rejected(
    server: ServerProcess, shard: int
) -> None:
    with urlopen(server.url + "/openapi.yaml") as text:
        document = yaml.safe_load(text)
    plan = planned_calls(document)
    fuzzed = {name.rsplit(" ", 1)[0] for name, count in plan.items() if count}
    assert {f"POST / {name}" for name in OPERATIONS} - fuzzed == {
        "POST / csv_url_load",
        "POST / import_from_s3",
        "POST / export_to_s3",
    }
    assert {f"POST {BATCH}{e}" for e in ("control", "batch", "file", "schedule")} | {
        f"GET {BATCH}status"
    } <= fuzzed
    assert sum(plan.values()) >= MIN_CALLS
    every_shard = shards(document)
    assert sorted(op for ops in every_shard for op in ops) == sorted(operations_of(document))
    mine = every_shard[shard]
    assert mine, "every shard fuzzes some operations"
    shard_plan = {
        name: count for name, count in plan.items() if name.rsplit(" ", 1)[0] in {m[0] for m in mine}
    }
    run = Run(create_fixtures(server, victim_keys=PLANS["revoke_api_key"].positive))
    started = time.monotonic()
    for label, path, which in operations_of(document):
        if (label, path, which) in mine:
            fuzz_operation(run, document, label, path, which)
    elapsed = time.monotonic() - started
    assert server.process.poll() is None, server.output()
    assert "gateway: restarting" not in server.output()  # no case restarted the server under test
    assert run.failures == [], f"{len(run.failures)} failures:\n" + "\n\n".join(run.failures[:15])
    assert (
        run.calls == shard_plan
    )  # every planned case was sent: the run is bounded by counts, not by a clock
    succeeded = {name for name, answers in run.answers.items() if any(status < 400 for status in answers)}
    # every operation's positive cases got through at least once (/ready may be 503 on a full disk)
    assert {name for name in run.answers if name.endswith(" positive")} - succeeded <= {"GET /ready positive"}
    print(
        f"\nschemathesis shard {shard}: {sum(shard_plan.values())} of {sum(plan.values())} cases over "
        f"{len(mine)} operations in {elapsed:.0f} s ({run.float_bounds_only} negative cases broke only a number bound)"
    )


def failure_summary(failure: BaseException) -> str:
    """Each failed check's title and message, without the reproduction command."""
    failures = failure.exceptions if isinstance(failure, BaseExceptionGroup) else (failure,)
    return "\n  ".join(f"{type(f).__name__}: {str(f)[:600]}" for f in failures)


def urlopen(url: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(url, timeout=30)
