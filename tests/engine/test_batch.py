"""run_batch (spec §1.5, §3, §7.2.5, §8): exceptions, reporting, commits, options."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

import engine.batch
from engine import RECORD_PROCESSORS, TOO_MANY_ERRORS, BatchError, Model, ReportedError, prepare_batch
from tests.engine.fakes import MemoryStore, memory_file
from tests.engine.helpers import control_for, items_model, person_model, run

NEW = {"action": "new", "destination": "item"}


def field(source: str, name: str = "a", **extra: Any) -> dict[str, Any]:
    return {"source": source, "destination": "item", "name": name, **extra}


# -- exceptions ---------------------------------------------------------------------


def test_invalid_control_file_is_an_exception() -> None:
    model = items_model()
    control = {"dataImportControlFileVersion": "0", "model": "test:items", "instructions": [{"action": "x"}]}
    result = run(model, [], control=control)
    assert result.outcome.exception == (
        "Errors in control file:\n  Bad version of control file, should be 0\n"
        "  Unknown action in instruction: x\n  Control file does not have files property"
    )
    assert (result.outcome.errors, result.outcome.records, result.outcome.committed) == (0, 0, 0)
    assert result.lines == []


def test_control_must_name_a_registered_model() -> None:
    model = items_model()
    control = control_for(model, [NEW])
    control["model"] = "test:other"
    assert (
        run(model, [], control=control).outcome.exception
        == "Errors in control file:\n  Model not implemented: test:other"
    )
    other = person_model()
    result = run(
        model, [], control=control_for(other, []), models={"test:items": model, "haplo:person": other}
    )
    assert result.outcome.exception is None
    assert result.lines == ["No data set in required destination profile (record 0)"]


def test_file_specifications() -> None:
    model = items_model()
    control = control_for(model, [NEW, field("a")])
    control["files"] = {"people": {"read": "json"}}
    files = [memory_file("people", '[{"a": "A"}]'), memory_file("other", '[{"a": "B"}]')]
    result = run(model, [], control=control, files=files)
    assert result.outcome.exception == (
        "Could not find file specification in control file for file other (and DEFAULT file entry does not exist)"
    )
    assert result.rows("item") == []
    control["files"] = {"people": {"read": "json"}, "DEFAULT": {"read": "tsv-with-name-row"}}
    files = [memory_file("people", '[{"a": "A"}, {}]'), memory_file("extra", "a\tother\nB\tx\n\ty\n")]
    result = run(model, [], control=control, files=files)
    assert result.outcome.exception is None
    assert [r.get("a") for r in result.rows("item")] == ["A", None, "B", None]


def test_files_that_are_not_an_object_have_no_specifications() -> None:
    model = items_model()
    control = control_for(model, [NEW], files=["json"])
    assert run(model, [], control=control).outcome.exception == (
        "Could not find file specification in control file for file input (and DEFAULT file entry does not exist)"
    )


def test_malformed_file_fails_before_anything_is_committed() -> None:
    model = items_model()
    files = [memory_file("good", '[{"a": "1"}]'), memory_file("bad", '[{"a": ]')]
    result = run(model, [NEW, field("a")], files=files)
    assert result.outcome.exception is not None
    assert result.outcome.exception.startswith("JSON file bad is not valid JSON")
    assert result.outcome.records == 0
    assert result.store.commits == []


def test_run_time_exceptions_keep_earlier_commits_and_count_errors_so_far() -> None:
    model = items_model()
    instructions = [
        NEW,
        field("a"),
        {"action": "log-error", "message": "logged"},
        {"action": "if-exists", "source": "boom", "then": [{"action": "new", "destination": "nowhere"}]},
    ]
    result = run(model, instructions, [{"a": "1"}, {"a": "2", "boom": 1}, {"a": "3"}])
    assert result.outcome.exception == "Unknown destination: nowhere"
    assert result.outcome.errors == 2
    assert result.outcome.records == 1
    assert [r["a"] for r in result.rows("item")] == ["1"]


def test_load_with_unknown_using_and_to_string_of_null() -> None:
    model = items_model()
    load = {"action": "load", "destination": "item", "using": "load:by-nothing"}
    assert run(model, [load]).outcome.exception == "No destination when requesting target: load:by-nothing"
    to_string = {
        "action": "set-value",
        "destination": "item",
        "name": "a",
        "value": None,
        "filters": ["haplo:to-string"],
    }
    assert run(model, [NEW, to_string]).outcome.exception == "Cannot convert undefined or null to string"


def test_unknown_filter_in_unvalidated_list_fails_at_setup() -> None:
    model = items_model(lookupNames=["a"])
    load = {
        "action": "load",
        "destination": "item",
        "using": "load:by-a",
        "otherwise": [
            {"source": "x", "destination": "item", "name": "a", "filters": ["haplo:username-to-ref"]}
        ],
    }
    result = run(model, [load])
    assert result.outcome.exception == "no filter defined for name: haplo:username-to-ref"
    assert result.outcome.records == 0


def test_unexpected_store_failures_become_exceptions() -> None:
    class Broken(MemoryStore):
        def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
            raise RuntimeError("disk on fire")

    model = items_model(lookupNames=["a"])
    instructions = [
        field("a", destination="load:by-a"),
        {"action": "load", "destination": "item", "using": "load:by-a"},
    ]
    result = run(model, instructions, [{"a": "x"}], store=Broken())
    assert result.outcome.exception == "disk on fire"


# -- reporting ----------------------------------------------------------------------


def test_error_cap_and_report_all_errors() -> None:
    model = items_model()
    instructions = [NEW, {"action": "abort-record", "message": "Problem"}]
    records: list[Any] = [{}] * 502
    capped = run(model, instructions, records)
    assert capped.outcome.errors == 502
    assert len(capped.lines) == 500
    assert capped.lines[498] == "Problem (record 498)"
    assert capped.lines[499] == TOO_MANY_ERRORS
    every = run(model, instructions, records, max_errors=None)
    assert every.outcome.errors == 502 and len(every.lines) == 502
    assert every.lines[-1] == "Problem (record 501)"


@pytest.mark.parametrize("cap", [1, 2, 3, 7])
def test_error_cap_is_a_parameter(cap: int) -> None:
    model = items_model()
    instructions = [NEW, {"action": "abort-record", "message": "Problem"}]
    result = run(model, instructions, [{}] * 9, max_errors=cap)
    assert result.lines == [f"Problem (record {i})" for i in range(cap - 1)] + [TOO_MANY_ERRORS]
    assert result.outcome.errors == 9 and result.outcome.records == 9


@pytest.mark.parametrize("cap", [None, 0, -1])
def test_no_error_cap(cap: int | None) -> None:
    model = items_model()
    instructions = [NEW, {"action": "abort-record", "message": "Problem"}]
    result = run(model, instructions, [{}] * 600, max_errors=cap)
    assert result.lines == [f"Problem (record {i})" for i in range(600)]
    assert result.outcome.errors == 600


def test_record_numbers_continue_across_files_and_non_objects_have_no_properties() -> None:
    model = items_model()
    files = [memory_file("one", '[{"a": "x"}, "text", [1]]'), memory_file("two", '[{}, {"a": "y"}]')]
    instructions = [
        NEW,
        field("a"),
        {"action": "if-exists", "source": "a", "else": [{"action": "log-error", "message": "no a"}]},
    ]
    result = run(model, instructions, files=files)
    assert result.lines == ["no a (record 1)", "no a (record 2)", "no a (record 3)"]
    assert result.outcome.records == 5


def test_every_error_reaches_on_error_with_its_file_and_record_past_the_cap() -> None:
    model = items_model()
    files = [memory_file("one", '[{"a": "x"}, {}, {}]'), memory_file("two", '[{}, {"a": "y"}, {}]')]
    instructions = [
        NEW,
        field("a"),
        {"action": "if-exists", "source": "a", "else": [{"action": "log-error", "message": "no a"}]},
    ]
    reported: list[ReportedError] = []
    ended: list[bool] = []
    result = run(
        model,
        instructions,
        files=files,
        max_errors=2,
        on_error=reported.append,
        on_failed_record=ended.append,
    )
    assert ended == [True, True, True, True]  # log-error leaves the record complete
    assert result.lines == ["no a (record 1)", TOO_MANY_ERRORS]
    assert [(e.message, e.source, e.source_record, e.record) for e in reported] == [
        ("no a", "one", 1, 1),
        ("no a", "one", 2, 2),
        ("no a", "two", 0, 3),
        ("no a", "two", 2, 5),
    ]
    aborted: list[bool] = []
    abort = [NEW, {"action": "abort-record", "message": "Problem"}]
    run(model, abort, [{}, {}], on_failed_record=aborted.append)
    assert aborted == [False, False]
    setup: list[ReportedError] = []
    bad = [NEW, {"source": "a", "destination": "nowhere", "name": "a"}]
    run(model, bad, [{}], on_error=setup.append)
    assert setup and all(e.source is None and e.record is None for e in setup)


def test_object_hint_is_given_once_per_batch() -> None:
    model = Model.from_json(
        {
            "name": "m",
            "destinations": [{"name": "o", "names": {"b": {"required": True}, "a": {"required": True}}}],
        }
    )
    result = run(model, [{"action": "new", "destination": "o"}], [{}, {}])
    hint = "see example of if-has-value instruction at https://docs.haplo.org/import/control/instruction/if-has-value"
    assert result.lines == [
        "a is not set in object o (record 0)",
        f"To set defaults for a, {hint} (record 0)",
        "b is not set in object o (record 0)",
        "a is not set in object o (record 1)",
        "b is not set in object o (record 1)",
    ]


# -- commits ------------------------------------------------------------------------


def test_one_atomic_commit_per_record_queued_targets_first() -> None:
    model = items_model({"a": {}})
    instructions = [NEW, field("x"), NEW, field("y")]
    result = run(model, instructions, [{"x": "1", "y": "2"}])
    (writes,) = result.store.commits
    assert [(w.table, w.record["a"], w.is_new) for w in writes] == [("item", "1", True), ("item", "2", True)]
    assert all(w.primary_key == w.record["id"] and len(w.primary_key) == 36 for w in writes)


def test_dry_run_reads_but_never_commits() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "title": {"last": "A"}, "type": "person"})
    instructions = [
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        {"action": "load", "destination": "profile", "using": "load:by-ref"},
        {"source": "e", "destination": "profile", "name": "email"},
    ]
    result = run(
        person_model(),
        instructions,
        [{"ref": "p1", "e": "a@b"}, {"ref": "p9", "e": "bad"}],
        store=store,
        dry_run=True,
    )
    assert result.store.commits == []
    assert store.reads >= 2
    assert result.outcome.committed == 0
    assert result.lines == [
        "Couldn't load destination: profile (record 1)",
        "Invalid email address for input field e: bad (record 1)",
    ]
    assert store.rows("profile") == [{"id": "p1", "title": {"last": "A"}, "type": "person"}]


def test_commit_failure_is_reported_and_the_record_not_counted() -> None:
    model = items_model()
    store = MemoryStore()
    store.fail_commits = "disk full"
    result = run(model, [NEW, field("a")], [{"a": "1"}], store=store)
    assert result.lines == ["Could not commit item: disk full (record 0)"]
    assert (result.outcome.errors, result.outcome.committed, result.outcome.exception) == (1, 0, None)
    store.fail_table = "item"
    assert run(model, [NEW, field("a")], [{"a": "1"}], store=store).lines == [
        "Could not commit item: disk full (record 0)"
    ]


def test_duplicate_new_key_is_a_commit_failure() -> None:
    model = items_model({"id": {}, "a": {}})
    instructions = [NEW, field("key", "id"), field("a")]
    result = run(model, instructions, [{"key": "k1", "a": "x"}, {"key": "k1", "a": "y"}, {"key": 7}])
    assert result.lines == ["Could not commit item: Duplicate primary key k1 in item (record 1)"]
    assert [r["id"] for r in result.rows("item")] == ["k1", "7"]


def test_default_type_and_type_required() -> None:
    model = Model.from_json(
        {
            "name": "m",
            "types": ["person", "staff"],
            "destinations": [
                {"name": "a", "defaultType": "person", "names": {"type": {"type": "object-type"}}},
                {
                    "name": "b",
                    "typeName": "kind",
                    "typeRequired": True,
                    "optional": True,
                    "names": {"kind": {"type": "object-type"}},
                },
            ],
        }
    )
    instructions = [
        {"action": "new", "destination": "a"},
        {"source": "t", "destination": "a", "name": "type"},
        {
            "action": "if-exists",
            "source": "b",
            "then": [
                {"action": "new", "destination": "b"},
                {"source": "b", "destination": "b", "name": "kind"},
            ],
        },
    ]
    records = [{}, {"t": "staff"}, {"b": "staff"}, {"b": "robot"}]
    result = run(model, instructions, records)
    assert result.lines == ["annotatedTypes used but target has no type defined (record 3)"]
    assert [r["type"] for r in result.rows("a")] == ["person", "staff", "person"]
    assert [r["kind"] for r in result.rows("b")] == ["staff"]
    assert run(model, instructions, records, dry_run=True).lines == []


def test_progress_and_should_stop() -> None:
    model = items_model()
    records = [{"a": str(i)} for i in range(2500)]
    result = run(model, [NEW, field("a")], records)
    assert result.progress == [1000, 2000, 2500]
    stops = iter([False, True])
    stopped = run(model, [NEW, field("a")], records, should_stop=lambda: next(stops))
    assert stopped.outcome.exception == "Batch stopped: server shutting down"
    assert stopped.outcome.records == 200
    assert stopped.outcome.committed == 200


def test_record_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def merge(sources: list[tuple[str, Iterable[Any]]]) -> list[tuple[str, Iterable[Any]]]:
        seen.extend(name for name, _ in sources)
        records = [r for _, rs in sources for r in rs]
        return [("merged", reversed(records))]

    monkeypatch.setitem(RECORD_PROCESSORS, "test:merge", merge)
    model = items_model()
    control = control_for(model, [NEW, field("a")], recordProcessor="test:merge")
    files = [memory_file("f1", '[{"a": "1"}]'), memory_file("f2", '[{"a": "2"}]')]
    result = run(model, [], control=control, files=files, batch_identifier="B1")
    assert seen == ["f1", "f2"]
    assert [r["a"] for r in result.rows("item")] == ["2", "1"]


def test_duplicate_file_names_keep_first_position_with_later_content() -> None:
    model = items_model()
    files = [
        memory_file("x", '[{"a": "old"}]'),
        memory_file("y", '[{"a": "y"}]'),
        memory_file("x", '[{"a": "new"}]'),
    ]
    result = run(model, [NEW, field("a")], files=files)
    assert [r["a"] for r in result.rows("item")] == ["new", "y"]


# -- generated code -------------------------------------------------------------------


def test_control_text_never_becomes_code() -> None:
    tricky = 'a\'] = 1\nimport os #""" {x}'
    model = Model.from_json({"name": "m", "destinations": [{"name": tricky, "names": {tricky: {}}}]})
    instructions = [
        {"action": "new", "destination": tricky},
        {"source": tricky, "destination": tricky, "name": tricky, "mapInputValue": {tricky: tricky}},
        {
            "action": "if-value-one-of",
            "source": tricky,
            "values": [tricky],
            "then": [{"action": "log-error", "message": tricky}],
        },
    ]
    result = run(model, instructions, [{tricky: tricky}])
    assert result.lines == [f"{tricky} (record 0)"]
    assert result.rows(tricky.replace(":", "_"))[0][tricky] == tricky


def test_deeply_nested_lists_compile() -> None:
    model = items_model({"v": {"multivalue": True}})
    body: list[Any] = [
        {
            "action": "for-each",
            "source": "list",
            "wrapValues": True,
            "instructions": [field("value", "v", multivalue=True)],
        }
    ]
    record: Any = {"list": ["x"]}
    for _ in range(15):
        body = [{"action": "if-exists", "source": "list", "then": body}]
        body = [{"action": "within", "source": "inner", "instructions": body}]
        body = [{"action": "for-each", "source": "list", "instructions": body}]
        record = {"list": [{"inner": record}]}
    result = run(model, [NEW, *body], [record])
    assert result.outcome.exception is None
    assert result.rows("item")[0]["v"] == ["x"]


def test_json_round_trip_of_stored_values() -> None:
    model = items_model({"j": {"type": "json"}, "n": {"type": "number"}})
    result = run(
        model, [NEW, field("j", "j"), field("n", "n")], [{"j": {"a": [1, {"b": None}]}, "n": "2.50"}]
    )
    row = result.rows("item")[0]
    assert json.loads(json.dumps(row)) == row
    assert row["j"] == {"a": [1, {"b": None}]} and row["n"] == 2.5


# -- setup once, run many -------------------------------------------------------------


def test_prepare_batch_validates_and_selects_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    items, person = items_model(), person_model()
    models = {items.name: items, person.name: person}
    with pytest.raises(BatchError) as raised:
        prepare_batch({"dataImportControlFileVersion": 0, "model": "test:other"}, models)
    assert raised.value.message == (
        "Errors in control file:\n  Model not implemented: test:other\n"
        "  Control file does not specify processing instructions in the instructions property\n"
        "  Control file does not have files property"
    )
    with pytest.raises(BatchError, match="^Errors in control file:\n  Not a control file\n"):
        prepare_batch([], models)
    prepared = prepare_batch(control_for(items, [NEW, field("a")]), models)
    assert prepared.model is items
    calls: list[Any] = []
    monkeypatch.setattr(engine.batch, "validate_control", lambda *args: calls.append(args) or [])
    for value in ("x", "y"):  # run many: no validation again
        store = MemoryStore()
        lines: list[str] = []
        files = [memory_file("f", json.dumps([{"a": value}]))]
        outcome = prepared.run(files, store, dry_run=False, log=lines.append)
        assert (outcome.exception, outcome.committed, lines) == (None, 1, [])
        assert [r["a"] for r in store.rows("item")] == [value]
    assert calls == []
