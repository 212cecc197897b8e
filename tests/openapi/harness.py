"""The schemathesis run of ``tests/openapi/test_openapi.py``: fixtures, one document per operation, the plan.

How a run goes, per API operation (each operation of ``POST /`` counts as one, and so does
each batch-API endpoint):

1. :func:`operation_document` cuts, from the served ``/openapi.yaml``, a document with that
   one operation: for ``POST /``, the body schema is ``op_<name>``, the responses are the
   statuses its ``x-statuses`` names, and the 200 answer is ``answer_<name>`` (so schemathesis
   generates every operation, where the served ``oneOf`` let it explore one branch);
2. **negative** cases are generated from that document as served: the server must refuse
   every one (negative-data rejection), which fails when the description is stricter than
   the server;
3. **positive** cases are generated from a copy narrowed to this server's state (the
   ``Plan``'s ``narrow``): ``database``/``table`` pinned to the fixture tables, attribute
   names to the table's attributes, users, roles, models, batches and files to fixtures
   that exist, SQL to a few statements. The served description stays generic (a name that
   does not exist is a 404, or a 400 on writes, as it says); the narrowing only removes
   what the description cannot know. Every positive case must then be accepted (positive-
   data acceptance, and the Plan's ``ok`` statuses, 200 unless said otherwise).

Operations that change what other cases rely on work on victims the Plan's ``prepare``
re-creates before each case (``drop_table``, ``drop_user`` …), or have what they made
removed after each case (``cleanup``: ``create_table``, ``add_user`` …).
"""

from __future__ import annotations

import base64
import copy
import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.fields import FIELD_ALIASES
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, ServerProcess

Doc = dict[str, Any]
Schema = dict[str, Any]
BATCH = "/api/haplo-data-import-batch/"
PUSH = "/api/push-data/"
PUSH_URL = "fuzz-push"  # POST /api/push-data/{url} pushes here
ALTER_PUSH = "fuzz-alter-push"  # alter_push_data_api
DROP_PUSH = "fuzz-drop-push"  # drop_push_data_api
REPO = Path(__file__).resolve().parents[2]
MODEL_FILE = REPO / "control_files" / "haplo-person.model.json"
CONTROL_FILE = REPO / "control_files" / "examples" / "people-create.control.json"

DB = "fuzz"
DOG = "dog"  # records and searches
DOG_ATTRIBUTES = ("id", "name", "age", "owner", "tags", "__createdtime__", "__updatedtime__")
DOGS = [
    {"id": 1, "name": "Penny", "age": 5, "owner": "Kyle", "tags": ["a", "b"]},
    {"id": 2, "name": "Pepper", "age": 8, "owner": "Kyle"},
    {"id": "3", "name": "Kato", "age": 9.5, "owner": None},
]
LOADS = "loads"  # csv loads write here
ATTRS = "attrs"  # create_attribute and drop_attribute
OLD_ROWS = "old_rows"  # delete_records_before
VICTIM_TABLE = "victim"  # drop_table
VICTIM_DB = "fuzz_victim"  # drop_database
MADE_DB = "fuzz_made"  # create_table
READER_ROLE = "fuzz_reader"
ALTER_ROLE = "fuzz_alter_role"
DROP_ROLE = "fuzz_drop_role"
TOKEN_USER, TOKEN_PASSWORD = "fuzz_token_user", "token-password"
ALTER_USER = "fuzz_alter_user"
DROP_USER = "fuzz_drop_user"
VICTIM_MODEL = {
    "name": "fuzz:victim",
    "database": "fuzz_victim_model",
    "destinations": [{"name": "thing", "names": {"title": {"type": "text"}}}],
}
SQL = (
    f"SELECT * FROM {DB}.{DOG}",
    f"SELECT name, age FROM {DB}.{DOG} WHERE age > 4 ORDER BY age DESC LIMIT 2",
    f"SELECT COUNT(*) FROM {DB}.{DOG}",
    f"INSERT INTO {DB}.{DOG} (id, name) VALUES ('sql', 'Sequel')",
    f"UPDATE {DB}.{DOG} SET owner = 'Zach' WHERE id = 2",
    f"DELETE FROM {DB}.{DOG} WHERE id = 'no such id'",
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- the server's state -------------------------------------------------------------------


@dataclass
class Fixtures:
    """What the run creates before fuzzing, so that generated requests can succeed."""

    server: ServerProcess
    key: str = ""  # an API key for the batch API
    victim_keys: list[str] = field(default_factory=list)  # revoke_api_key's targets
    digest: str = ""  # the uploaded control file
    batches: list[str] = field(default_factory=list)  # batches in state uploading
    rejected: str = ""  # an ended batch with one failed record (file DEFAULT)
    finished: list[str] = field(default_factory=list)  # batches that have run (a dry run)
    refresh_token: str = ""  # the admin's
    csv_file: str = ""  # in the import directory
    export_dir: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    control: dict[str, Any] = field(default_factory=dict)  # the person control file, one record a body
    push_key: str = ""  # the key of the PUSH_URL API

    def op(self, body: dict[str, Any], *ok: int) -> Any:
        """POST an operation as the admin; its answer (the status must be 200 or one of ``ok``)."""
        status, answer = self.server.op(body)
        assert status in {200, *ok}, (body, status, answer)
        return answer

    def batch_api(self, endpoint: str, fields: dict[str, str], files: dict[str, bytes] | None = None) -> str:
        """POST to a batch-API endpoint with the fixture key; the text answer (must be 200)."""
        if files:
            boundary = uuid.uuid4().hex
            parts = [
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                for k, v in fields.items()
            ]
            parts += [
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{k}"\r\n'.encode()
                + b"Content-Type: application/octet-stream\r\n\r\n"
                + v
                + b"\r\n"
                for k, v in files.items()
            ]
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            media = f"multipart/form-data; boundary={boundary}"
        else:
            data = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in fields.items()).encode()
            media = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.server.url + BATCH + endpoint,
            data=data,
            headers={"Content-Type": media, "Authorization": basic("haplo", self.key)},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(response.read().decode())

    def wait_ended(self, batch: str, timeout: float = 60) -> None:
        """Wait (bounded) until ``batch`` has run to an end state."""
        deadline = time.monotonic() + timeout
        url = f"{self.server.url}{BATCH}status?batch={urllib.request.quote(batch)}"
        while time.monotonic() < deadline:
            request = urllib.request.Request(url, headers={"Authorization": basic("haplo", self.key)})
            with urllib.request.urlopen(request, timeout=30) as response:
                state = response.read().decode().split("\n", 1)[0]
            if state not in ("state: scheduled", "state: running"):
                return
            time.sleep(0.1)
        raise AssertionError(f"batch {batch} did not end within {timeout} s")

    def new_batch(self) -> str:
        """A fresh batch in state uploading."""
        return self.batch_api("batch", {"control": self.digest, "comment": "fuzz"})

    @property
    def admin(self) -> str:
        return basic(ADMIN_USER, ADMIN_PASSWORD)

    @property
    def haplo(self) -> str:
        return basic("haplo", self.key)

    def auth_for(self, path: str) -> str:
        """The credentials a case of ``path`` is sent with: a batch-API key, the push API's key, the admin."""
        if path.startswith(BATCH):
            return self.haplo
        return basic("haplo", self.push_key) if path.startswith(PUSH) else self.admin

    def push_api(self, url: str) -> dict[str, Any]:
        """Define a push-data API over the fixture control file (enabled, JSON answers)."""
        return dict(self.op({"operation": "add_push_data_api", "url": url, "control": self.control}))


def create_fixtures(server: ServerProcess, victim_keys: int) -> Fixtures:
    """Databases, tables and records, roles and users, models, an API key, a control file,
    batches, a CSV file and the export directory."""
    fx = Fixtures(server)
    for table in (DOG, LOADS, ATTRS, OLD_ROWS, VICTIM_TABLE):
        fx.op({"operation": "create_table", "database": DB, "table": table, "primary_key": "id"})
    fx.op({"operation": "insert", "database": DB, "table": DOG, "records": DOGS})
    fx.op({"operation": "insert", "database": DB, "table": OLD_ROWS, "records": [{"id": 1}]})
    fx.op({"operation": "create_database", "database": VICTIM_DB})
    for role in (READER_ROLE, ALTER_ROLE, DROP_ROLE):
        fx.op({"operation": "add_role", "role": role, "permission": {DB: {"tables": {DOG: {"read": True}}}}})
    for user, password in ((TOKEN_USER, TOKEN_PASSWORD), (ALTER_USER, "x"), (DROP_USER, "x")):
        fx.op({"operation": "add_user", "username": user, "password": password, "role": READER_ROLE})
    fx.refresh_token = fx.op(
        {"operation": "create_authentication_tokens", "username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )["refresh_token"]
    fx.model = json.loads(MODEL_FILE.read_text("utf-8"))
    fx.op({"operation": "add_import_model", "model": fx.model})
    fx.op({"operation": "add_import_model", "model": VICTIM_MODEL})
    fx.key = fx.op({"operation": "create_api_key", "name": "fuzz"})["key"]
    fx.victim_keys = [
        fx.op({"operation": "create_api_key", "name": "victim"})["id"] for _ in range(victim_keys)
    ]
    fx.digest = fx.batch_api("control", {"comment": "fuzz"}, {"file": CONTROL_FILE.read_bytes()})
    fx.batches = [fx.new_batch() for _ in range(2)]
    fx.control = json.loads(CONTROL_FILE.read_text("utf-8"))
    fx.control["files"] = {"DEFAULT": {"read": "json", "singleRecord": True}}
    fx.push_key = fx.push_api(PUSH_URL)["key"]
    fx.push_api(ALTER_PUSH)
    fx.batch_api(
        "file", {"batch": fx.batches[0], "name": "DEFAULT"}, {"file": b'[{"first": "A", "last": "B"}]'}
    )
    fx.rejected = fx.new_batch()
    fx.batch_api("file", {"batch": fx.rejected, "name": "DEFAULT"}, {"file": b'[{"first": "A"}, {}]'})
    fx.batch_api("schedule", {"batch": fx.rejected})
    fx.wait_ended(fx.rejected)
    fx.finished = [fx.new_batch()]
    fx.batch_api(
        "file", {"batch": fx.finished[0], "name": "DEFAULT"}, {"file": b'[{"first": "A", "last": "B"}]'}
    )
    fx.batch_api("schedule", {"batch": fx.finished[0], "mode": "dry-run"})
    deadline = time.monotonic() + 60  # a bound only: a one-record dry run ends at once
    while fx.op({"operation": "get_import_batch", "batch": fx.finished[0]})["state"] in (
        "scheduled",
        "running",
    ):
        assert time.monotonic() < deadline, "the fixtures' dry run did not finish"
        time.sleep(0.1)
    import_dir = server.root / "import"
    import_dir.mkdir(parents=True, exist_ok=True)
    (import_dir / "dogs.csv").write_text("id,name,age\n10,Rex,3\n11,Fido,4\n", "utf-8")
    fx.csv_file = str(import_dir / "dogs.csv")
    (server.root / "export").mkdir(parents=True, exist_ok=True)
    fx.export_dir = str(server.root / "export")
    return fx


# -- one document per operation ----------------------------------------------------------------


def operations_of(document: Doc) -> list[tuple[str, str, str]]:
    """``(label, path, method)`` of every API operation: each operation of POST / (``POST / insert``)
    and each other path's methods (admin pages are not in the document)."""
    out: list[tuple[str, str, str]] = []
    for path, methods in document["paths"].items():
        for method in methods:
            if (path, method) == ("/", "post"):
                names = document["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                for name in sorted(names["discriminator"]["mapping"]):
                    out.append((f"POST / {name}", path, name))
            else:
                out.append((f"{method.upper()} {path}", path, method))
    return out


def operation_document(document: Doc, path: str, which: str) -> Doc:
    """The served document cut down to one API operation (``which``: a method, or for POST / the
    operation's name)."""
    doc = {key: copy.deepcopy(value) for key, value in document.items() if key != "paths"}
    if path != "/" or which == "get":
        doc["paths"] = {path: {which: copy.deepcopy(document["paths"][path][which])}}
        return doc
    post = document["paths"]["/"]["post"]
    schema = doc["components"]["schemas"][f"op_{which}"]
    responses = {}
    for status in schema["x-statuses"]:
        response = copy.deepcopy(post["responses"][str(status)])
        if status == 200:  # the operation's own answer, in its one media type
            media = schema.get("x-answer-media", "application/json")
            answer = {"$ref": f"#/components/schemas/{schema.get('x-answer', 'JsonValue')}"}
            response["content"] = {media: {"schema": answer}}
        responses[str(status)] = response
    doc["paths"] = {
        "/": {
            "post": {
                "summary": schema["description"],
                "security": post["security"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/op_{which}"}}},
                },
                "responses": responses,
            }
        }
    }
    return doc


def only_breaks_number_bounds(served: Doc, which: str) -> Callable[[Any], bool]:
    """Whether a body breaks ``op_<which>`` of the served document only by a number beyond ±2**53.

    The description bounds every number to ±2**53 (a value); the server refuses integer
    *literals* beyond, but keeps a float literal such as ``1e300`` as a double, which no schema
    can tell apart. A negative case that is valid once that bound is lifted is not one the
    server must refuse.
    """
    import jsonschema_rs

    components = copy.deepcopy(schemas(served))
    components["Number"] = {"type": "number"}
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/op_{which}",
        "components": {"schemas": components},
    }
    validator = jsonschema_rs.validator_for(root, validate_formats=True)

    def check(body: Any) -> bool:
        return not isinstance(body, bytes | str) and bool(validator.is_valid(body))

    return check


# -- narrowing: the positive documents --------------------------------------------------------


def schemas(doc: Doc) -> dict[str, Schema]:
    components: dict[str, Schema] = doc["components"]["schemas"]
    return components


def body_schema(doc: Doc, path: str, which: str) -> Schema:
    """The schema positive cases are drawn from: ``op_<name>``, or a batch endpoint's form or query."""
    if path == "/":
        return schemas(doc)[f"op_{which}"]
    operation = doc["paths"][path][which]
    if which == "get":
        return {"properties": {p["name"]: p for p in operation["parameters"]}}
    content = operation["requestBody"]["content"]
    if len(content) > 1:  # both form encodings: keep the first, one is enough for positive cases
        first = next(iter(content))
        operation["requestBody"]["content"] = {first: content[first]}
    schema: Schema = next(iter(operation["requestBody"]["content"].values()))["schema"]
    return schema


def pin(schema: Schema, name: str, *values: Any, required: bool = True) -> None:
    """Field ``name`` takes only ``values``; required by default."""
    restrict(schema, name, {"enum": list(values)}, required)


def restrict(schema: Schema, name: str, field_schema: Schema, required: bool = True) -> None:
    """Field ``name`` follows ``field_schema`` (its deprecated alias is left out); required by default."""
    schema["properties"][name] = field_schema
    old = next((o for o, new in FIELD_ALIASES.items() if new == name), None)
    if old in schema["properties"]:
        schema["properties"][old] = False
    if required and name not in schema.setdefault("required", []):
        schema["required"].append(name)


def narrow_table(doc: Doc, name: str, table: str = DOG) -> None:
    """Pin the body's database and table to a fixture table."""
    schema = schemas(doc)[f"op_{name}"]
    pin(schema, "database", DB)
    pin(schema, "table", table)


def _narrow_audit(doc: Doc) -> None:
    """read_audit_log: the fixture database, and its table when one is named (the gateway's own audit
    table otherwise)."""
    schema = schemas(doc)["op_read_audit_log"]
    pin(schema, "database", DB)
    pin(schema, "table", DOG, required=False)


def narrow_attributes(doc: Doc) -> None:
    """Attribute names of searches, conditions and sorts: those of the fixture table."""
    named = {"enum": list(DOG_ATTRIBUTES)}
    components = schemas(doc)
    components["AttributeNames"] = {"type": "array", "minItems": 1, "items": {"enum": ["*", *DOG_ATTRIBUTES]}}
    components["Condition"]["properties"]["search_attribute"] = named
    components["Condition"]["properties"]["attribute"] = named
    components["Sort"]["properties"]["attribute"] = named
    value_search = components["op_search_by_value"]["properties"]
    value_search["attribute"] = value_search["search_attribute"] = named


def narrow_search(doc: Doc, name: str) -> None:
    narrow_table(doc, name)
    narrow_attributes(doc)


def narrow_records(doc: Doc, name: str, key_required: bool) -> None:
    """Records for the fixture table: its primary key ``id`` a string or number (required to update)."""
    narrow_table(doc, name)
    record = schemas(doc)["Record"]
    key: Schema = {"anyOf": [{"type": "string", "minLength": 1}, {"$ref": "#/components/schemas/Number"}]}
    if not key_required:
        key = {"anyOf": [key, {"type": "null"}, {"const": ""}]}
    record["properties"] = {"id": key}
    if key_required:
        record["required"] = ["id"]


def narrow_export(doc: Doc, name: str, fx: Fixtures) -> None:
    pin(schemas(doc)[f"op_{name}"], "path", fx.export_dir, fx.export_dir + "/")
    for search in ("search_by_value", "search_by_hash", "search_by_id", "search_by_conditions"):
        narrow_table(doc, search)
    narrow_attributes(doc)
    pin(schemas(doc)["op_sql"], "sql", *(s for s in SQL if s.startswith("SELECT")))


def not_one_of(*names: str) -> Schema:
    return {"allOf": [{"$ref": "#/components/schemas/Name"}, {"not": {"enum": list(names)}}]}


def narrow_create_table(doc: Doc, fx: Fixtures) -> None:
    """A new table in its own database. Either a primary_key (or hash_attribute) and at most one
    attribute, not marked; or one attribute marked as the primary key (the server checks that
    they agree and that names are unique, which a schema cannot say)."""
    schema = schemas(doc)["op_create_table"]
    pin(schema, "database", MADE_DB)
    attribute = copy.deepcopy(schema["properties"]["attributes"]["items"])
    unmarked = {
        "allOf": [attribute, {"properties": {"isPrimaryKey": {"const": False}, "is_primary_key": False}}]
    }
    marked = {
        "allOf": [attribute, {"required": ["isPrimaryKey"], "properties": {"isPrimaryKey": {"const": True}}}]
    }
    by_key = {
        "anyOf": [
            {"required": ["primary_key"]},
            {"required": ["hash_attribute"], "properties": {"primary_key": False}},
        ],
        "properties": {
            "hash_attribute": {"$ref": "#/components/schemas/Name"},
            "attributes": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 1, "items": unmarked}]},
        },
    }
    by_mark = {
        "required": ["attributes"],
        "properties": {
            "primary_key": False,
            "hash_attribute": False,
            "attributes": {"type": "array", "minItems": 1, "maxItems": 1, "items": marked},
        },
    }
    schema["properties"]["attributes"] = True
    schema["allOf"] = [{"anyOf": [by_key, by_mark]}]  # replaces the served primary-key rule


# -- the plan ------------------------------------------------------------------------------------

Narrow = Callable[[Doc, Fixtures], None]
Prepare = Callable[[Fixtures, Any], None]
Cleanup = Callable[[Fixtures, Any, Any], None]


@dataclass(frozen=True)
class Plan:
    """How one API operation is fuzzed.

    ``positive``/``negative``: the cases generated (the run is bounded by these counts, not by
    a clock); ``narrow``: how the positive document is narrowed to the fixtures; ``prepare``:
    what runs before each positive case (it may put a fresh fixture into the case, keeping
    it valid); ``cleanup``: what runs after a positive case's answer; ``ok``: the statuses a
    positive case may get; ``negative_rejection``: whether every negative case must be refused.
    """

    positive: int = 20
    negative: int = 30  # the first dozen or so are not JSON at all (schemathesis' syntax fuzzing)
    narrow: Narrow | None = None
    prepare: Prepare | None = None
    cleanup: Cleanup | None = None
    ok: frozenset[int] = frozenset({200})
    negative_rejection: bool = True
    why: str = ""


def _ensure(*bodies: dict[str, Any]) -> Prepare:
    """Prepare: make sure a victim exists (its "already exists" answers are fine)."""

    def prepare(fx: Fixtures, case: Any) -> None:
        for body in bodies:
            fx.op(body, 400, 409)

    return prepare


FIXTURE_DATABASES = frozenset({DB, VICTIM_DB, MADE_DB, "data", "system"})


def _database_absent(fx: Fixtures, case: Any) -> None:
    """Prepare: the database a create case names does not exist yet (another case, one that
    became a different operation, may have made it and left it); fixture databases are kept."""
    if isinstance(case.body, dict):
        name = _database_of(case.body)
        if name not in FIXTURE_DATABASES:
            fx.op({"operation": "drop_database", "database": name}, 404, 400)


def _undo(make_body: Callable[[Any, Any], dict[str, Any] | None]) -> Cleanup:
    """Cleanup: after a 200, remove what the case made (``make_body`` builds the removal)."""

    def cleanup(fx: Fixtures, case: Any, response: Any) -> None:
        if response.status_code == 200:
            body = make_body(case.body, response.json())
            if body is not None:
                fx.op(body, 404)

    return cleanup


def _fresh_batch(fx: Fixtures, case: Any) -> None:
    case.body["batch"] = fx.new_batch()


def _pins(operation: str, **values: tuple[Any, ...]) -> Narrow:
    def narrow(doc: Doc, fx: Fixtures) -> None:
        for field_name, allowed in values.items():
            pin(schemas(doc)[f"op_{operation}"], field_name, *allowed)

    return narrow


def _pin_form(path: str, which: str, **values: Callable[[Fixtures], tuple[Any, ...]]) -> Narrow:
    def narrow(doc: Doc, fx: Fixtures) -> None:
        schema = body_schema(doc, path, which)
        for field_name, allowed in values.items():
            if which == "get":
                schema["properties"][field_name]["schema"] = {"enum": list(allowed(fx))}
            else:
                schema["properties"][field_name] = {"enum": list(allowed(fx))}

    return narrow


def _victim_attribute(doc: Doc, fx: Fixtures, name: str) -> None:
    narrow_table(doc, name, ATTRS)
    restrict(schemas(doc)[f"op_{name}"], "attribute", not_one_of("id", "__createdtime__", "__updatedtime__"))


def _narrow_model(doc: Doc, fx: Fixtures) -> None:
    """The fixture model (as an object or as JSON text), replacing itself."""
    pin(schemas(doc)["op_add_import_model"], "model", fx.model, json.dumps(fx.model))
    pin(schemas(doc)["op_add_import_model"], "replace", True)


def _narrow_add_push(doc: Doc, fx: Fixtures) -> None:
    """A new url each time (removed after the case), over the fixture control file."""
    schema = schemas(doc)["op_add_push_data_api"]
    restrict(schema, "url", {"type": "string", "pattern": "^new-[a-z0-9-]{0,20}$"})
    pin(schema, "control", fx.control, json.dumps(fx.control))
    restrict(schema, "control_digest", {"enum": [None, fx.digest]}, required=False)


def _narrow_alter_push(doc: Doc, fx: Fixtures) -> None:
    schema = schemas(doc)["op_alter_push_data_api"]
    pin(schema, "url", ALTER_PUSH)
    restrict(schema, "control", {"enum": [None, fx.control, json.dumps(fx.control)]}, required=False)
    restrict(schema, "control_digest", {"enum": [None, fx.digest]}, required=False)


def _narrow_push(doc: Doc, fx: Fixtures) -> None:
    """The fixture API, and a body its control file commits (one person)."""
    operation = doc["paths"][PUSH + "{url}"]["post"]
    operation["parameters"][0]["schema"] = {"enum": [PUSH_URL]}
    person = {
        "type": "object",
        "properties": {"first": {"enum": ["Ada", "Grace"]}, "last": {"enum": ["Lovelace", "Hopper"]}},
        "required": ["first", "last"],
        "additionalProperties": False,
    }
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": person}}}


def _database_of(body: dict[str, Any]) -> str:
    return str(body.get("database", body.get("schema", "data")) or "data")


def _search_plan(name: str, positive: int = 20) -> Plan:
    return Plan(positive, narrow=lambda doc, fx: narrow_search(doc, name))


def _records_plan(name: str, key_required: bool = False) -> Plan:
    return Plan(30, narrow=lambda doc, fx: narrow_records(doc, name, key_required))


def _load_plan(name: str, **pins: Callable[[Fixtures], tuple[Any, ...]]) -> Plan:
    def narrow(doc: Doc, fx: Fixtures) -> None:
        narrow_table(doc, name, LOADS)
        for field_name, values in pins.items():
            pin(schemas(doc)[f"op_{name}"], field_name, *values(fx))

    return Plan(10, narrow=narrow)


OUTSIDE = "reaches outside this machine (a URL or S3)"
RESTARTS = (
    "an accepted case restarts the server under test (tests/operations/test_restart.py restarts a "
    "server of its own); only the refusals are fuzzed"
)
PLANS: dict[str, Plan] = {
    # databases and tables
    "describe_all": Plan(5),
    "describe_database": Plan(5, narrow=_pins("describe_database", database=(DB,))),
    "describe_schema": Plan(5, narrow=_pins("describe_schema", database=(DB,))),
    "describe_table": Plan(narrow=lambda doc, fx: narrow_table(doc, "describe_table")),
    "create_database": Plan(
        prepare=_database_absent,
        cleanup=_undo(lambda body, _: {"operation": "drop_database", "database": _database_of(body)}),
    ),
    "create_schema": Plan(
        prepare=_database_absent,
        cleanup=_undo(lambda body, _: {"operation": "drop_database", "database": _database_of(body)}),
    ),
    "drop_database": Plan(
        narrow=_pins("drop_database", database=(VICTIM_DB,)),
        prepare=_ensure({"operation": "create_database", "database": VICTIM_DB}),
    ),
    "drop_schema": Plan(
        narrow=_pins("drop_schema", database=(VICTIM_DB,)),
        prepare=_ensure({"operation": "create_database", "database": VICTIM_DB}),
    ),
    "create_table": Plan(
        40,
        narrow=lambda doc, fx: narrow_create_table(doc, fx),
        cleanup=_undo(
            lambda body, _: {"operation": "drop_table", "database": MADE_DB, "table": body["table"]}
        ),
    ),
    "drop_table": Plan(
        narrow=lambda doc, fx: narrow_table(doc, "drop_table", VICTIM_TABLE),
        prepare=_ensure(
            {"operation": "create_table", "database": DB, "table": VICTIM_TABLE, "primary_key": "id"}
        ),
    ),
    "create_attribute": Plan(
        narrow=lambda doc, fx: _victim_attribute(doc, fx, "create_attribute"),
        cleanup=_undo(
            lambda body, _: {
                "operation": "drop_attribute",
                "database": DB,
                "table": ATTRS,
                "attribute": body["attribute"],
            }
        ),
    ),
    "drop_attribute": Plan(narrow=lambda doc, fx: _victim_attribute(doc, fx, "drop_attribute")),
    "get_backup": Plan(3, 5, narrow=_pins("get_backup", database=(DB,))),
    # records
    "insert": _records_plan("insert"),
    "update": _records_plan("update", key_required=True),
    "upsert": _records_plan("upsert"),
    "delete": Plan(narrow=lambda doc, fx: narrow_table(doc, "delete")),
    "search_by_id": _search_plan("search_by_id"),
    "search_by_hash": _search_plan("search_by_hash", 10),
    "search_by_value": _search_plan("search_by_value"),
    "search_by_conditions": _search_plan("search_by_conditions", 60),
    "sql": Plan(10, narrow=_pins("sql", sql=SQL)),
    # bulk
    "csv_data_load": _load_plan("csv_data_load"),
    "csv_file_load": _load_plan("csv_file_load", file_path=lambda fx: (fx.csv_file,)),
    "csv_url_load": Plan(0, 0, why=OUTSIDE),
    "import_from_s3": Plan(0, 0, why=OUTSIDE),
    "export_to_s3": Plan(0, 0, why=OUTSIDE),
    "export_local": Plan(
        20,
        narrow=lambda doc, fx: narrow_export(doc, "export_local", fx),
        negative_rejection=False,
        why="HarperDB checks format and search_operation in the job: the request is 200 however wrong they are",
    ),
    "delete_records_before": Plan(
        10, narrow=lambda doc, fx: narrow_table(doc, "delete_records_before", OLD_ROWS)
    ),
    "delete_files_before": Plan(5, narrow=lambda doc, fx: narrow_table(doc, "delete_files_before", OLD_ROWS)),
    "get_job": Plan(10),
    "search_jobs_by_start_date": Plan(10),
    # users and roles
    "list_roles": Plan(5),
    "add_role": Plan(
        25,
        ok=frozenset({200, 409}),
        cleanup=_undo(lambda body, answer: {"operation": "drop_role", "id": answer["id"]}),
    ),
    "alter_role": Plan(
        narrow=_pins("alter_role", id=(ALTER_ROLE,)),
        ok=frozenset({200, 409}),
    ),
    "drop_role": Plan(
        5,
        narrow=_pins("drop_role", id=(DROP_ROLE,)),
        prepare=_ensure({"operation": "add_role", "role": DROP_ROLE, "permission": {}}),
    ),
    "list_users": Plan(5),
    "user_info": Plan(5),
    "add_user": Plan(
        5,
        narrow=_pins("add_user", role=(READER_ROLE,)),
        ok=frozenset({200, 409}),
        cleanup=_undo(lambda body, _: {"operation": "drop_user", "username": body["username"]}),
    ),
    "alter_user": Plan(5, narrow=_pins("alter_user", username=(ALTER_USER,), role=(READER_ROLE,))),
    "drop_user": Plan(
        5,
        narrow=_pins("drop_user", username=(DROP_USER,)),
        prepare=_ensure(
            {"operation": "add_user", "username": DROP_USER, "password": "x", "role": READER_ROLE}
        ),
    ),
    "create_authentication_tokens": Plan(
        5, narrow=_pins("create_authentication_tokens", username=(TOKEN_USER,), password=(TOKEN_PASSWORD,))
    ),
    "refresh_operation_token": Plan(
        5,
        narrow=lambda doc, fx: pin(
            schemas(doc)["op_refresh_operation_token"], "refresh_token", fx.refresh_token
        ),
    ),
    # system
    "read_log": Plan(20),
    "read_audit_log": Plan(20, narrow=lambda doc, fx: _narrow_audit(doc)),
    "read_transaction_log": Plan(10, narrow=lambda doc, fx: narrow_table(doc, "read_transaction_log")),
    "delete_transaction_logs_before": Plan(
        5, narrow=lambda doc, fx: narrow_table(doc, "delete_transaction_logs_before")
    ),
    "delete_audit_logs_before": Plan(5, narrow=lambda doc, fx: narrow_table(doc, "delete_audit_logs_before")),
    "system_information": Plan(3),
    "get_configuration": Plan(5),
    "set_configuration": Plan(30),
    "registration_info": Plan(5),
    "cluster_status": Plan(3),
    "set_status": Plan(
        20, cleanup=lambda fx, case, response: fx.op({"operation": "clear_status", "id": "availability"})
    ),
    "get_status": Plan(10, ok=frozenset({200, 404})),
    "clear_status": Plan(10),
    "list_metrics": Plan(10),
    "describe_metric": Plan(10),
    "get_analytics": Plan(20),
    "restart": Plan(0, why=RESTARTS),
    "restart_service": Plan(0, why=RESTARTS),
    # imports
    "add_import_model": Plan(5, narrow=lambda doc, fx: _narrow_model(doc, fx)),
    "drop_import_model": Plan(
        5,
        narrow=_pins("drop_import_model", name=(VICTIM_MODEL["name"],)),
        prepare=_ensure({"operation": "add_import_model", "model": VICTIM_MODEL, "replace": True}),
    ),
    "list_import_models": Plan(5),
    "describe_import_model": Plan(
        5, narrow=lambda doc, fx: pin(schemas(doc)["op_describe_import_model"], "name", fx.model["name"])
    ),
    "validate_control_file": Plan(),
    "create_api_key": Plan(25),
    "list_api_keys": Plan(5),
    "revoke_api_key": Plan(
        5,
        narrow=lambda doc, fx: pin(schemas(doc)["op_revoke_api_key"], "id", *fx.victim_keys),
        ok=frozenset({200, 404}),
    ),
    "list_control_files": Plan(5),
    "list_import_batches": Plan(10),
    "get_import_batch": Plan(
        5, narrow=lambda doc, fx: pin(schemas(doc)["op_get_import_batch"], "batch", *fx.batches)
    ),
    "copy_import_batch": Plan(
        5, narrow=lambda doc, fx: pin(schemas(doc)["op_copy_import_batch"], "batch", *fx.batches)
    ),
    # push-data APIs
    "add_push_data_api": Plan(
        5,
        narrow=_narrow_add_push,
        cleanup=_undo(lambda body, answer: {"operation": "drop_push_data_api", "url": answer["url"]}),
    ),
    "alter_push_data_api": Plan(10, narrow=_narrow_alter_push),
    "drop_push_data_api": Plan(
        5,
        narrow=_pins("drop_push_data_api", url=(DROP_PUSH,)),
        prepare=lambda fx, case: fx.op(
            {"operation": "add_push_data_api", "url": DROP_PUSH, "control": fx.control}, 400
        ),
    ),
    "list_push_data_apis": Plan(5),
    f"POST {PUSH}{{url}}": Plan(10, 0, narrow=_narrow_push),
    # the batch API
    f"POST {BATCH}control": Plan(
        10, narrow=_pin_form(BATCH + "control", "post", file=lambda fx: (CONTROL_FILE.read_text("utf-8"),))
    ),
    f"POST {BATCH}batch": Plan(
        10, narrow=_pin_form(BATCH + "batch", "post", control=lambda fx: (fx.digest,))
    ),
    f"POST {BATCH}file": Plan(10, prepare=_fresh_batch),
    f"POST {BATCH}schedule": Plan(10, prepare=_fresh_batch),
    f"GET {BATCH}status": Plan(
        10, narrow=_pin_form(BATCH + "status", "get", batch=lambda fx: tuple(fx.batches))
    ),
    f"GET {BATCH}rejects": Plan(
        10,
        narrow=_pin_form(
            BATCH + "rejects", "get", batch=lambda fx: (fx.rejected,), file=lambda fx: ("DEFAULT",)
        ),
    ),
    # Finished batches only: a batch that has not run answers 409 (tests/batch/test_summary.py), and
    # a few generated cases could pick only those, leaving the 200 untried.
    f"GET {BATCH}changes": Plan(
        5, narrow=_pin_form(BATCH + "changes", "get", batch=lambda fx: tuple(fx.finished))
    ),
    # the service
    "GET /health": Plan(1, 0),
    "GET /ready": Plan(1, 0, ok=frozenset({200, 503})),
    "GET /metrics": Plan(1, 0),
    "GET /": Plan(1, 0, ok=frozenset({303})),
    "GET /openapi.yaml": Plan(1, 0),
}
