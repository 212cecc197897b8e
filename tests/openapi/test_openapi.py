"""``GET /openapi.yaml``: valid OpenAPI, every route described, and a schemathesis run finds no 5xx."""

from __future__ import annotations

import base64
import copy
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from gateway.http.openapi import fields_source
from gateway.operations import OPERATIONS
from tests.support.server import ServerProcess, start_server

BATCH = "/api/haplo-data-import-batch/"
# Operations that would reach outside this machine (URLs, S3) are left out of the fuzzing.
NOT_FUZZED = {"csv_url_load", "import_from_s3", "export_to_s3"}
# Operations that would lock the fuzzer out (its own user) are left out too.
NOT_FUZZED |= {"drop_user", "alter_user", "drop_role", "alter_role"}
# (positive, negative) examples per path; POST / carries every operation, so it gets the most.
# The run is bounded by these counts, not by a clock: every planned call is made, however slow
# the machine (about 650 calls, under 10 s here).
EXAMPLES = {"/": (250, 100)}
DEFAULT_EXAMPLES = (40, 20)
MIN_CALLS = 400


def load(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    return yaml.safe_load(response.text)


def test_document_is_valid_and_covers_every_route(client):
    document = load(client)
    validate(document)
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
    schemas = document["components"]["schemas"]
    assert schemas["op_insert"]["properties"]["operation"] == {"type": "string", "enum": ["insert"]}
    assert schemas["op_insert"]["required"] == ["operation", "table", "records"]
    assert "&id" not in client.get("/openapi.yaml").text  # no YAML anchors


def test_every_registered_operation_has_written_fields():
    assert sorted(name for name in OPERATIONS if fields_source(name) is None) == []
    assert fields_source("insert") == "insert"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("openapi") / "root")
    try:
        yield running
    finally:
        running.stop()


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the operations that must not be fuzzed."""
    doc = copy.deepcopy(document)
    body = doc["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    body["oneOf"] = [b for b in body["oneOf"] if b["$ref"].rsplit("op_", 1)[1] not in NOT_FUZZED]
    body["discriminator"]["mapping"] = {
        k: v for k, v in body["discriminator"]["mapping"].items() if k not in NOT_FUZZED
    }
    return doc


def planned(operation: Any) -> tuple[int, int]:
    """The (positive, negative) calls the run makes for one API operation.

    An operation that takes no input at all (no body, parameters, headers or cookies) has
    exactly one positive case and no negative one; every other gets the examples asked for.
    """
    inputs = (
        operation.body,
        operation.query,
        operation.path_parameters,
        operation.headers,
        operation.cookies,
    )
    if not any(len(kind) for kind in inputs):
        return (1, 0)
    return EXAMPLES.get(operation.path, DEFAULT_EXAMPLES)


def fuzz(operation: Any, mode: Any, examples: int, call: Callable[[Any], int]) -> list[str]:
    """Run ``examples`` generated cases of one API operation; descriptions of the 5xx answers."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    failures: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        status = call(case)
        if status >= 500:
            failures.append(f"{case.method} {case.path} {case.body!r:.300} -> {status}")

    try:
        run()
    except Unsatisfiable:
        assert mode.value == "negative"  # nothing to get wrong: no parameters, no body
    return failures


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(server: ServerProcess) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    status, created = server.op({"operation": "create_api_key", "name": "fuzz"})
    assert status == 200, created
    key_header = "Basic " + base64.b64encode(f"haplo:{created['key']}".encode()).decode()
    with urllib.request.urlopen(server.url + "/openapi.yaml", timeout=10) as response:
        document = yaml.safe_load(response.read())
    schema = schemathesis.openapi.from_dict(fuzzable(document))
    failures: list[str] = []
    calls: dict[str, int] = {}
    plan: dict[str, int] = {}

    def caller(auth: str, name: str) -> Callable[[Any], int]:
        def call(case: Any) -> int:
            calls[name] = calls.get(name, 0) + 1
            return int(
                case.call(base_url=server.url, headers={"Authorization": auth}, timeout=30).status_code
            )

        return call

    for result in schema.get_all_operations():
        operation = result.ok()
        auth = key_header if operation.path.startswith(BATCH) else server.auth_header()
        counts = EXAMPLES.get(operation.path, DEFAULT_EXAMPLES)
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for mode, examples, expected in zip(modes, counts, planned(operation), strict=True):
            name = f"{operation.method.upper()} {operation.path} {mode.value}"
            plan[name] = expected
            calls[name] = 0
            failures += fuzz(operation, mode, examples, caller(auth, name))
    assert server.process.poll() is None, server.output()
    assert calls == plan  # every planned case was sent: the run is bounded by counts, not by a clock
    assert (
        plan["POST / positive"] == EXAMPLES["/"][0]
        and plan[f"POST {BATCH}file negative"] == DEFAULT_EXAMPLES[1]
    )
    assert sum(calls.values()) >= MIN_CALLS, calls
    assert failures == [], "\n".join(failures[:20])
