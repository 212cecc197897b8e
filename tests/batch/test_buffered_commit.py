"""The write-behind commit buffer of ModelTargetStore, in process on a real RocksDB store.

Each batch here runs twice on fresh stores: buffered (nothing flushed until the end)
and with a flush after every record (the old one-write-per-record behaviour); the
stored tables and the logs must be identical, and the buffered run must have
stored nothing before its final flush (so later records saw earlier ones through
the buffer).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import BatchFile, StoreError, TargetWrite, run_batch
from gateway.imports.commit_buffer import CommitBuffer
from gateway.imports.models import ModelRegistry
from gateway.imports.target import ModelTargetStore, generated_key_tables
from gateway.storage import keys as K
from gateway.storage.errors import StoreFailure
from gateway.storage.ports import ImportWrites, Storage
from gateway.storage.records import FinalRecord, KeyRange
from gateway.storage.rocksdb import open_rocksdb
from tests.batch.conftest import person_model
from tests.support.people import PERSON_NAME_INSTRUCTIONS

PROJECTS = {
    "name": "test:projects",
    "title": "Projects",
    "database": "test_projects",
    "destinations": [
        {
            "name": "project",
            "kind": "object",
            "table": "project",
            "lookupNames": ["title"],
            "names": {"title": {"type": "text", "required": True}},
        },
        {
            "name": "supervision",
            "kind": "dictionary",
            "table": "supervision",
            "depends": "project",
            "linkName": "project",
            "optional": True,
            "names": {"supervisor": {"type": "text"}, "role": {"type": "text"}, "project": {"type": "ref"}},
        },
    ],
}

THINGS = {
    "name": "test:things",
    "title": "Things",
    "database": "test_things",
    "destinations": [
        {
            "name": "thing",
            "kind": "object",
            "table": "thing",
            "primaryKey": "ref",
            "names": {"ref": {"type": "text"}, "label": {"type": "text"}},
        }
    ],
}

PEOPLE_CONTROL = {
    "dataImportControlFileVersion": 0,
    "model": "haplo:person",
    "files": {"DEFAULT": {"read": "json"}},
    "instructions": [
        {"source": "email", "destination": "load:by-email", "name": "email"},
        {
            "action": "load",
            "destination": "profile",
            "using": "load:by-email",
            "otherwise": [
                {"action": "new", "destination": "profile"},
                {"source": "email", "destination": "profile", "name": "email"},
            ],
        },
        *PERSON_NAME_INSTRUCTIONS,
        {"source": "job", "destination": "profile", "name": "job_title"},
    ],
}

PROJECTS_CONTROL = {
    "dataImportControlFileVersion": 0,
    "model": "test:projects",
    "files": {"DEFAULT": {"read": "json"}},
    "instructions": [
        {"source": "title", "destination": "load:by-title", "name": "title"},
        {
            "action": "load",
            "destination": "project",
            "using": "load:by-title",
            "otherwise": [
                {"action": "new", "destination": "project"},
                {"source": "title", "destination": "project", "name": "title"},
            ],
        },
        {"source": "supervisor", "destination": "supervision", "name": "supervisor"},
        {"source": "role", "destination": "supervision", "name": "role"},
    ],
}

THINGS_CONTROL = {
    "dataImportControlFileVersion": 0,
    "model": "test:things",
    "files": {"DEFAULT": {"read": "json"}},
    "instructions": [
        {"action": "new", "destination": "thing"},
        {"source": "ref", "destination": "thing", "name": "ref"},
        {"source": "label", "destination": "thing", "name": "label"},
    ],
}


class Run:
    """One batch on a fresh store: the outcome, the log, and what was stored when."""

    def __init__(
        self, root: Path, model_json: dict[str, Any], flush_records: int, behind: bool = False
    ) -> None:
        self.store = open_rocksdb(root)
        self.store.imports.write_behind = behind  # as PostgreSQL's: groups stored by a thread of their own
        self.model, _ = ModelRegistry(self.store).add(model_json)
        self.target = ModelTargetStore(
            self.store,
            self.model.database,
            generated_keys=generated_key_tables(self.model),
            flush_records=flush_records,
            flush_seconds=3600.0,
        )
        self.log: list[str] = []

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {
            d.table: list(self.store.records.scan(self.model.database, d.table))
            for d in self.model.stored_destinations
        }

    def count(self) -> int:
        return sum(len(rows) for rows in self.tables().values())

    def run(self, control: dict[str, Any], rows: list[dict[str, Any]], dry_run: bool = False) -> Any:
        data = json.dumps(rows).encode()
        file = BatchFile("data", lambda: io.BytesIO(data), len(data))
        return run_batch(control, self.model, [file], self.target, dry_run=dry_run, log=self.log.append)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    opened: list[Run] = []
    yield opened
    for run in opened:
        run.store.close()


def both(
    tmp_path: Path,
    runs: list[Run],
    model: dict[str, Any],
    control: dict[str, Any],
    rows: list[dict[str, Any]],
) -> tuple[Run, Any]:
    """Run buffered, record-by-record and in small groups written behind; check they agree; the
    buffered run and its outcome."""
    buffered = Run(tmp_path / "buffered", model, flush_records=10_000)
    eager = Run(tmp_path / "eager", model, flush_records=1)
    behind = Run(tmp_path / "behind", model, flush_records=2, behind=True)
    runs.extend([buffered, eager, behind])
    outcome = buffered.run(control, rows)
    assert buffered.count() == 0  # everything still pending: later records read it from the buffer
    buffered.target.flush()
    assert eager.run(control, rows) == outcome
    assert behind.run(control, rows) == outcome  # later records read groups in flight too
    behind.target.flush()
    for other in (eager, behind):
        assert other.log == buffered.log
        assert normalised(other) == normalised(buffered)
        assert other.target.committed == outcome.committed
    assert buffered.target.committed == outcome.committed
    return buffered, outcome


def normalised(run: Run) -> dict[str, list[Any]]:
    """The tables with generated keys replaced by first-seen numbers and store metadata dropped."""
    names: dict[Any, int] = {}

    def name(key: Any) -> Any:
        return names.setdefault(key, len(names)) if isinstance(key, str) and len(key) == 36 else key

    out: dict[str, list[Any]] = {}
    for table, rows in run.tables().items():
        rows.sort(key=lambda r: r["__createdtime__"])
        out[table] = [
            {
                k: [name(x) for x in v] if isinstance(v, list) else name(v)
                for k, v in r.items()
                if not k.startswith("__")
            }
            for r in rows
        ]
    return out


def test_loads_see_earlier_records_of_the_batch(tmp_path: Path, runs: list[Run]) -> None:
    rows = [
        {"email": "ada@example.com", "first": "Ada", "last": "Lovelace", "job": "Analyst"},
        {"email": "alan@example.com", "first": "Alan", "last": "Turing", "job": "Codebreaker"},
        {"email": "ada@example.com", "first": "Ada", "last": "King", "job": "Countess"},
        {"email": "ada@example.com", "first": "Ada", "last": "King", "job": "Poet"},
    ]
    run, outcome = both(tmp_path, runs, person_model(), PEOPLE_CONTROL, rows)
    assert (outcome.records, outcome.committed, outcome.errors) == (4, 4, 0)
    stored = run.tables()["profile"]
    people = {r["email"][0]: r for r in stored}
    assert len(stored) == 2 and set(people) == {"ada@example.com", "alan@example.com"}
    assert people["ada@example.com"]["title"] == {"first": "Ada", "last": "King"}
    assert people["ada@example.com"]["job_title"] == ["Poet"]
    assert people["ada@example.com"]["__createdtime__"] < people["alan@example.com"]["__createdtime__"]


def test_dependents_are_found_through_the_buffer(tmp_path: Path, runs: list[Run]) -> None:
    rows = [
        {"title": "P1", "supervisor": "S1", "role": "R1"},
        {"title": "P2", "supervisor": "S2", "role": "R1"},
        {"title": "P1", "supervisor": "S1", "role": "R2"},
    ]
    run, outcome = both(tmp_path, runs, PROJECTS, PROJECTS_CONTROL, rows)
    assert outcome.errors == 0
    tables = run.tables()
    assert sorted(p["title"] for p in tables["project"]) == ["P1", "P2"]
    by_project = {p["id"]: p["title"] for p in tables["project"]}
    roles = sorted((by_project[s["project"]], s["role"]) for s in tables["supervision"])
    assert roles == [("P1", "R2"), ("P2", "R1")]


def test_commit_failures_are_reported_per_record(tmp_path: Path, runs: list[Run]) -> None:
    rows = [
        {"ref": "A", "label": "first"},
        {"ref": "B", "label": "second"},
        {"ref": "A", "label": "duplicate of a pending record"},
        {"ref": "C", "label": "duplicate of a stored record"},
        {"ref": "D", "label": "fine"},
    ]
    buffered = Run(tmp_path / "buffered", THINGS, flush_records=10_000)
    eager = Run(tmp_path / "eager", THINGS, flush_records=1)
    runs.extend([buffered, eager])
    for run in (buffered, eager):
        run.store.records.write("test_things", "thing", [{"ref": "C", "label": "stored before"}], "insert")
        outcome = run.run(THINGS_CONTROL, rows)
        run.target.flush()
        assert (outcome.records, outcome.committed, outcome.errors) == (5, 3, 2)
    assert (
        buffered.log
        == eager.log
        == [
            "Could not commit thing: a record with ref \"A\" already exists in 'thing' (record 2)",
            "Could not commit thing: a record with ref \"C\" already exists in 'thing' (record 3)",
        ]
    )
    assert normalised(buffered) == normalised(eager)
    labels = {r["ref"]: r["label"] for r in buffered.tables()["thing"]}
    assert labels == {"A": "first", "B": "second", "C": "stored before", "D": "fine"}


def test_dry_run_writes_nothing(tmp_path: Path, runs: list[Run]) -> None:
    run = Run(tmp_path / "dry", person_model(), flush_records=1)
    runs.append(run)
    run.target = ModelTargetStore(run.store, run.model.database, read_only=True)
    rows = [{"email": "ada@example.com", "first": "Ada", "last": "Lovelace", "job": "Analyst"}] * 3
    outcome = run.run(PEOPLE_CONTROL, rows, dry_run=True)
    assert (outcome.records, outcome.committed, outcome.errors, outcome.exception) == (3, 0, 0, None)
    assert run.target.flush() == 0 and run.count() == 0
    with pytest.raises(StoreError, match="a dry run writes nothing"):
        run.target.commit([TargetWrite("profile", "id", {"id": "p1"}, True)])
    assert run.count() == 0


def test_a_failed_flush_ends_the_batch_and_keeps_earlier_flushes(tmp_path: Path) -> None:
    """A store failure during a flush is a batch exception, not a record error."""
    store = open_rocksdb(tmp_path / "db")
    model, _ = ModelRegistry(store).add(person_model())
    target = ModelTargetStore(
        store, model.database, generated_keys=generated_key_tables(model), flush_records=10
    )
    rows = [{"email": f"p{i}@example.com", "first": "P", "last": str(i)} for i in range(25)]
    rows[14] = {"email": "no-name@example.com"}  # an error: its log line closes the store
    log: list[str] = []

    def close_on_error(line: str) -> None:
        log.append(line)
        if len(log) == 1:
            store.close()

    data = json.dumps(rows).encode()
    file = BatchFile("data", lambda: io.BytesIO(data), len(data))
    outcome = run_batch(PEOPLE_CONTROL, model, [file], target, dry_run=False, log=close_on_error)
    assert outcome.exception is not None
    assert outcome.exception.startswith("Could not store the last 10 committed records: ")
    assert outcome.records == 20 and target.committed == 10
    assert len(log) >= 1 and all("(record 14)" in line for line in log)
    reopened = open_rocksdb(tmp_path / "db")
    try:
        stored = list(reopened.records.scan(model.database, "profile"))
        assert sorted(r["title"]["last"] for r in stored) == sorted(str(i) for i in range(10))
    finally:
        reopened.close()


class FailingGroup:
    """A store's import writes whose ``failing``-th group fails as a full device would."""

    def __init__(self, imports: ImportWrites, failing: int) -> None:
        self._imports = imports
        self.group_records = imports.group_records
        self.write_behind = True
        self.check_keys = imports.check_keys
        self.ensure_attributes = imports.ensure_attributes
        self.groups = 0
        self.failing = failing

    def write_records(self, database: str, tables: Any) -> int:
        self.groups += 1
        if self.groups == self.failing:
            raise StoreFailure("No space left on device")
        return self._imports.write_records(database, tables)


def test_a_failed_group_written_behind_ends_the_batch_and_keeps_the_groups_before(tmp_path: Path) -> None:
    """The failure of a group stored in the background is raised at the next flush: the records
    committed since are dropped too, so the records stored are the run's first, and counted exactly."""
    store = open_rocksdb(tmp_path / "db")
    try:
        model, _ = ModelRegistry(store).add(person_model())
        imports = FailingGroup(store.imports, failing=2)
        target = ModelTargetStore(
            replace(store, imports=imports),
            model.database,
            generated_keys=generated_key_tables(model),
            flush_records=10,
        )
        rows = [{"email": f"p{i}@example.com", "first": "P", "last": str(i)} for i in range(25)]
        data = json.dumps(rows).encode()
        file = BatchFile("data", lambda: io.BytesIO(data), len(data))
        reports: list[bool] = []
        control = {  # every record new, read nothing: the failure shows at the last report
            **PEOPLE_CONTROL,
            "instructions": [
                {"action": "new", "destination": "profile"},
                {"source": "email", "destination": "profile", "name": "email"},
                *PERSON_NAME_INSTRUCTIONS,
            ],
        }
        outcome = run_batch(
            control,
            model,
            [file],
            target,
            dry_run=False,
            log=lambda line: None,
            progress=lambda done: reports.append(target.flush_behind()),
        )
        # group 1 (records 0-9) stored; group 2 (10-19) failed behind; 20-24 were pending when the
        # last report found the failure
        assert outcome.exception == "Could not store the last 15 committed records: No space left on device"
        assert outcome.records == 25 and outcome.committed == 25
        assert target.end_run(outcome.exception, outcome.committed) == (outcome.exception, 10)
        assert target.committed == 10 and imports.groups == 2
        stored = list(store.records.scan(model.database, "profile"))
        assert sorted(int(r["title"]["last"]) for r in stored) == list(range(10))
    finally:
        store.close()


# -- model tables: declared attributes, indexes only where the engine looks up ------------


def indexed(store: Storage, database: str, table: str) -> dict[str, bool]:
    info = store.catalog.table(database, table)
    return {name: attr.indexed for name, attr in info.attributes.items() if name != info.primary_key}


def test_model_tables_index_only_what_the_engine_looks_up(tmp_path: Path) -> None:
    store = open_rocksdb(tmp_path / "db")
    try:
        registry = ModelRegistry(store)
        registry.add(PROJECTS)
        assert indexed(store, "test_projects", "project") == {
            "__createdtime__": True,
            "__updatedtime__": True,
            "title": True,  # a lookup name
            "type": False,
        }
        assert indexed(store, "test_projects", "supervision") == {
            "__createdtime__": True,
            "__updatedtime__": True,
            "supervisor": False,
            "role": False,
            "project": True,  # the link name
            "type": False,
        }
        coded = {
            **THINGS,
            "destinations": [{**THINGS["destinations"][0], "names": {"code": {"type": "text"}}}],
        }
        registry.add(coded)
        assert indexed(store, "test_things", "thing")["code"] is True  # code-to-ref looks it up
        person = person_model()
        registry.add(person)
        flags = indexed(store, "haplo_person", "profile")
        assert flags["email"] is True and flags["job_title"] is False and flags["title"] is False
        store.records.write(
            "haplo_person", "profile", [{"id": "p1", "job_title": ["Poet"], "extra": 1}], "insert"
        )
        assert indexed(store, "haplo_person", "profile")["extra"] is True  # others: as any dynamic table
        # a new lookup name on an existing, non-indexed attribute gets an index built from the records
        profile = person["destinations"][0]
        changed = {**person, "destinations": [{**profile, "lookupNames": ["email", "job_title"]}]}
        registry.add(changed, replace=True)
        assert indexed(store, "haplo_person", "profile")["job_title"] is True
        assert list(
            store.records.index_keys("haplo_person", "profile", "job_title", KeyRange("Poet", True))
        ) == ["p1"]
        store.catalog.create_table("user_db", "plain")
        store.records.write("user_db", "plain", [{"id": 1, "job_title": "x"}], "insert")
        assert indexed(store, "user_db", "plain")["job_title"] is True  # user tables are unchanged
    finally:
        store.close()


class HeldGroups:
    """A store's import writes whose groups wait until the test lets them through (bounded)."""

    def __init__(self, imports: ImportWrites) -> None:
        self._imports = imports
        self.release = threading.Event()
        self.started = threading.Event()

    def write_records(self, database: str, tables: Any) -> int:
        self.started.set()
        assert self.release.wait(10), "the test never let the group through"
        return self._imports.write_records(database, tables)


def test_a_report_right_after_a_group_is_handed_off_does_not_wait_for_it(tmp_path: Path) -> None:
    """The engine prepares the next group while one is stored: a progress report that finds nothing
    pending answers at once (not everything is stored yet), and the group is stored after all."""
    store = open_rocksdb(tmp_path / "db")
    try:
        store.catalog.create_table("d", "t")
        held = HeldGroups(store.imports)
        buffer = CommitBuffer(held, "d", max_records=3, background=True)  # type: ignore[arg-type]
        for n in range(3):  # the third record fills the buffer: the group goes to the writer thread
            record = {"id": f"k{n}", "n": n}
            buffer.add_one(
                "t", K.encode_key(f"k{n}"), FinalRecord(f"k{n}", record, orjson.dumps(record), True)
            )
        assert held.started.wait(10)
        started = time.monotonic()
        assert buffer.flush_behind() is False  # in flight, not waited for
        assert time.monotonic() - started < 1
        assert store.records.get("d", "t", "k0") is None
        held.release.set()
        assert buffer.settle() == 3 and buffer.flush_behind() is True
        assert [store.records.get("d", "t", f"k{n}")["n"] for n in range(3)] == [0, 1, 2]  # type: ignore[index]
        buffer.close()
    finally:
        store.close()
